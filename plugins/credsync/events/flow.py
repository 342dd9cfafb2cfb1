"""What a ``completion_events`` run does for one tenant, as plain functions the DAG tasks and tests call.

claim_and_stage → gate → merge are the LMS pull's steps (:mod:`credsync.learning.flow`) on the
completions the recorded events carry: the same staging table, the same Great Expectations
gate, the same merge and so the same keys — an event and the scheduled pull of the same
enrollment make one ``core.completions`` row (``(tenant_id, 'lms_rest', enrollment_id)``),
whichever comes first. The pull's watermarks are left alone: the pull still reads the LMS
export itself and is the safety net for any event that never arrived.

Then, for the learners whose completions the run loaded: credentials (issuance is set-based
and idempotent per evidence, so only the new completions make new credentials), the registry
push of the new submissions, and the HRIS write-back limited to those learners.

Every step is safe to retry: a retried task finds the events its run claimed (``claimed_by``)
and re-stages the same batch (window key of the run); events a dead run claimed are taken over
after ``stale_minutes`` by the next run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from credsync.paths import sql_text

log = logging.getLogger(__name__)

#: Events one run takes per tenant (the rest wait for the next run the watcher or sweep makes).
CLAIM_LIMIT = 20_000
#: A claim older than this by a run that did not finish is taken over.
STALE_MINUTES = 15
WRITEBACK_TARGETS = ("hris_profile", "payroll_flag")


def open_tenants(warehouse_url: str) -> list[str]:
    """Tenants with recorded events that no run has finished."""
    from credsync.warehouse import connect

    with connect(warehouse_url, autocommit=True) as conn:
        return sorted(row[0] for row in conn.execute(sql_text("events/open_tenants.sql")))


def claim_and_stage(warehouse_url: str, *, tenant_id: str, run_id: str, limit: int = CLAIM_LIMIT,
                    stale_minutes: int = STALE_MINUTES) -> dict[str, Any]:
    """Claim the tenant's waiting events for ``run_id`` and stage their completions as one batch."""
    from credsync.learning.pull import stage_pull
    from credsync.warehouse import connect

    keys = {"tenant_id": tenant_id, "run_id": run_id}
    with connect(warehouse_url, autocommit=True) as conn:
        rows = conn.execute(sql_text("events/claimed_by_run.sql"), keys).fetchall()
        if not rows:
            rows = conn.execute(sql_text("events/claim_events.sql"),
                                {**keys, "limit": limit, "stale_minutes": stale_minutes}).fetchall()
        if not rows:
            return {"tenant_id": tenant_id, "run_id": run_id, "events": 0, "batch_id": None}
        items = [completion for _, completion in rows]
        batch, skipped = stage_pull(conn, tenant_id=tenant_id, statements=[], lms_items=items, dag_run_id=run_id,
                                    window_key=f"lms.completion_events run={run_id}")
        conn.execute(sql_text("events/set_batch.sql"), {**keys, "batch_id": batch.batch_id})
    log.info("tenant %s: %d completion events staged as batch %s (%d to load, %d quarantined, %d in progress)",
             tenant_id, len(rows), batch.batch_id, batch.records_loaded, batch.records_quarantined, skipped)
    return {**batch.as_counts(), "run_id": run_id, "events": len(rows), "skipped_in_progress": skipped,
            "watermarks": {}}


def gate(warehouse_url: str, staged: dict[str, Any], *, max_quarantine_share: float = 0.05,
         min_batch_size: int = 20) -> dict[str, Any]:
    """The LMS pull's GX gate on the run's batch; a refusal closes its events as ``refused`` and raises."""
    from credsync.ingest.gate import BatchRejected
    from credsync.learning import flow as learning
    from credsync.warehouse import connect

    if not staged.get("batch_id"):
        return staged
    try:
        return learning.gate(warehouse_url, staged, max_quarantine_share=max_quarantine_share,
                             min_batch_size=min_batch_size)
    except BatchRejected as exc:
        with connect(warehouse_url, autocommit=True) as conn:
            conn.execute(sql_text("events/refuse_events.sql"), {
                "tenant_id": staged["tenant_id"], "run_id": staged["run_id"], "reason": str(exc)[:1000]})
        raise


def merge(warehouse_url: str, validated: dict[str, Any]) -> dict[str, Any]:
    """Merge the run's batch into core.completions (the pull's merge), then close its events."""
    from credsync.learning import flow as learning
    from credsync.warehouse import connect

    tenant_id, run_id = validated["tenant_id"], validated["run_id"]
    keys = {"tenant_id": tenant_id, "run_id": run_id}
    merged: dict[str, Any] = {"tenant_id": tenant_id, "run_id": run_id, "events": validated.get("events", 0)}
    if validated.get("batch_id"):
        merged |= learning.merge(warehouse_url, validated)
    with connect(warehouse_url, autocommit=True) as conn:
        conn.execute(sql_text("events/finish_events.sql"), keys)
    # A count, not the ids: XCom carries references; the delivery steps read the learners again.
    return merged | {"learners": len(affected_learners(warehouse_url, tenant_id=tenant_id, run_id=run_id))}


def affected_learners(warehouse_url: str, *, tenant_id: str, run_id: str) -> list[str]:
    """The learners whose completions run ``run_id`` loaded (what its delivery steps are limited to)."""
    from credsync.warehouse import connect

    with connect(warehouse_url, autocommit=True) as conn:
        return [row[0] for row in conn.execute(sql_text("events/affected_learners.sql"),
                                               {"tenant_id": tenant_id, "run_id": run_id})]


def writeback_keys(learners: Iterable[str], credential_types: Iterable[str]) -> set[str]:
    """The write-back entity keys (``employee:target:type``) of ``learners``."""
    types = sorted(set(credential_types))
    return {f"{learner}:{target}:{ctype}" for learner in learners for target in WRITEBACK_TARGETS
            for ctype in types}
