"""Gate and merge a staged HRIS batch into core.workers; the watermark moves with the merge."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

    from credsync.quality import GateResult

log = logging.getLogger(__name__)


class BatchRejected(RuntimeError):
    """The GX gate blocked a batch; the message carries the reason and the Data Docs link."""


@dataclass(frozen=True)
class MergeResult:
    batch_id: str
    inserted: int
    updated: int
    unchanged: int
    already_merged: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def gate_batch(warehouse_url: str, *, tenant_id: str, batch_id: str) -> GateResult:
    """Run the HRIS worker suite on the staged batch and record the verdict on ``audit.batches``.

    Before GX (which cannot judge an empty staged batch) the batch itself is
    checked: schema drift found while staging, and the share of its records
    quarantined and not parked (``max_quarantine_share``; a batch whose every
    record is quarantined is always blocked). Raises :class:`BatchRejected`
    (after recording ``rejected`` with the validation JSON and Data Docs link)
    when the gate blocks; ``core`` is not touched either way.
    """
    from credsync.people.quality import STAGING_TABLE, batch_checks, load_thresholds, worker_expectations
    from credsync.quality import run_gate
    from credsync.quality.gate import with_batch_checks
    from credsync.warehouse import connect

    thresholds = load_thresholds()
    with connect(warehouse_url) as conn:
        failures, details = batch_checks(conn, tenant_id=tenant_id, batch_id=batch_id, thresholds=thresholds)
        conn.rollback()
    result = run_gate(
        warehouse_url,
        suite_name=thresholds.suite_name,
        table=STAGING_TABLE,
        batch_id=batch_id,
        tenant_id=tenant_id,
        expectations=lambda: worker_expectations(thresholds),
    )
    result = with_batch_checks(result, failures, details)
    params = {"batch_id": batch_id, "validation": json.dumps(result.validation),
              "data_docs_url": result.data_docs_url}
    with connect(warehouse_url) as conn:
        conn.execute(sql_text("people/mark_validated.sql" if result.success else "people/reject_batch.sql"), params)
        conn.commit()
    if not result.success:
        log.error("%s", result.summary)
        raise BatchRejected(result.summary)
    log.info("%s", result.summary)
    return result


def merge_batch(conn: psycopg.Connection, *, tenant_id: str, batch_id: str, watermark: str | None) -> MergeResult:
    """Merge a validated batch and advance the tenant's watermark, in one transaction.

    The watermark is written in the same transaction as the merge, so it can
    never move past data that did not commit; the batch's quarantined records
    (within the gate's limit) are parked by that policy in the same
    transaction, so every record it passes is loaded or parked. Re-running on a merged batch
    is a no-op; a batch that is not validated is refused.
    """
    row = conn.execute(
        "SELECT status, records_loaded FROM audit.batches WHERE batch_id = %s AND tenant_id = %s FOR UPDATE",
        (batch_id, tenant_id),
    ).fetchone()
    if row is None:
        raise LookupError(f"batch {batch_id} of tenant {tenant_id} does not exist")
    status, staged = row
    if status == "merged":
        conn.rollback()
        return MergeResult(batch_id, 0, 0, 0, already_merged=True)
    if status != "validated":
        conn.rollback()
        raise BatchRejected(f"batch {batch_id} of tenant {tenant_id} is {status!r}, not validated: refusing to merge")
    kinds = [r[0] for r in conn.execute(
        sql_text("people/merge_workers.sql"), {"tenant_id": tenant_id, "batch_id": batch_id}
    ).fetchall()]
    conn.execute(sql_text("people/park_within_limits.sql"), {"batch_id": batch_id})
    conn.execute(sql_text("people/mark_merged.sql"), {"batch_id": batch_id})
    if watermark:
        advance_watermark(conn, tenant_id=tenant_id, watermark=watermark, batch_id=batch_id)
    conn.commit()
    inserted, updated = kinds.count("insert"), kinds.count("update")
    return MergeResult(batch_id, inserted, updated, staged - inserted - updated)


def advance_watermark(conn: psycopg.Connection, *, tenant_id: str, watermark: str, batch_id: str | None) -> None:
    """Move the HRIS worker watermark forward (a no-op if it is already at or past ``watermark``)."""
    conn.execute(
        sql_text("people/advance_watermark.sql"),
        {"tenant_id": tenant_id, "watermark": watermark, "batch_id": batch_id},
    )


def current_watermark(conn: psycopg.Connection, tenant_id: str) -> str | None:
    row = conn.execute(
        "SELECT watermark FROM audit.sync_state WHERE tenant_id = %s AND source = 'hris' AND stream = 'workers'",
        (tenant_id,),
    ).fetchone()
    return row[0] if row else None
