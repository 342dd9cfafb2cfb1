"""The LMS completion pull steps as plain functions; DAG tasks and tests call exactly these.

extract_and_stage → gate → merge (+ watermarks), the shape of :mod:`credsync.people.flow`. Each
step takes the warehouse URL and returns a small dict (references and counts) for XCom.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from credsync.ingest.gate import gate_batch
from credsync.ingest.watermarks import Stream, current_watermark
from credsync.learning.pull import LMS_STREAM, LRS_STREAM, stage_pull

log = logging.getLogger(__name__)

# A source opened at a watermark: a pull that iterates its records and says where it resumes
# (``.watermark``) and where it started (``.since`` / ``.updated_since``, for the batch's window).
OpenSource = Callable[[str | None], Iterable[dict[str, Any]]]


def extract_and_stage(
    warehouse_url: str,
    *,
    tenant_id: str,
    open_statements: OpenSource,
    open_completions: OpenSource,
    full: bool = False,
    dag_run_id: str | None = None,
) -> dict[str, Any]:
    """Pull both sources after their watermarks (everything when ``full``) into one staged batch.

    A window whose batch the gate refused is staged again as that same batch. The watermarks the
    pulls reached travel with the batch and move only in the merge transaction.
    """
    from credsync.warehouse import connect

    with connect(warehouse_url, autocommit=True) as conn:
        lrs_since = None if full else current_watermark(conn, tenant_id, LRS_STREAM)
        lms_since = None if full else current_watermark(conn, tenant_id, LMS_STREAM)
        statements = open_statements(lrs_since)
        completions = open_completions(lms_since)
        batch, skipped = stage_pull(conn, tenant_id=tenant_id, statements=statements, lms_items=completions,
                                    dag_run_id=dag_run_id)
        if hasattr(statements, "record"):  # a StatementSync: what the LRS pull saw (audit.lrs_pulls)
            statements.record(conn, batch.batch_id, tenant_id)
    reached = {LRS_STREAM: getattr(statements, "watermark", None), LMS_STREAM: getattr(completions, "watermark", None)}
    log.info("tenant %s: staged batch %s (attempt %d): %d in, %d to load, %d quarantined, %d in progress skipped",
             tenant_id, batch.batch_id, batch.attempt, batch.records_in, batch.records_loaded,
             batch.records_quarantined, skipped)
    return {**batch.as_counts(), "skipped_in_progress": skipped,
            "watermarks": {stream.key: watermark for stream, watermark in reached.items()}}


def gate(warehouse_url: str, staged: dict[str, Any], *, max_quarantine_share: float = 0.05,
         min_batch_size: int = 20) -> dict[str, Any]:
    """Run the GX gate on the staged batch; raises :class:`credsync.ingest.gate.BatchRejected` when blocked.
    Share thresholds apply to batches of at least ``min_batch_size`` records."""
    from credsync.learning.quality import CompletionGateThresholds, completion_gate

    thresholds = CompletionGateThresholds(max_quarantine_share=float(max_quarantine_share),
                                          min_batch_size=int(min_batch_size),
                                          batch_rows=staged.get("records_in", staged.get("in")))
    result = gate_batch(warehouse_url, completion_gate(thresholds), tenant_id=staged["tenant_id"],
                        batch_id=staged["batch_id"])
    return {**staged, "gate": result.summary}


def merge(warehouse_url: str, validated: dict[str, Any]) -> dict[str, Any]:
    """Merge into core.completions, hold unknown people, apply voids and advance the watermarks, in one
    transaction."""
    from credsync.learning.merge import merge_completions
    from credsync.warehouse import connect

    watermarks = {Stream.parse(key): value for key, value in validated["watermarks"].items() if value}
    with connect(warehouse_url, autocommit=True) as conn:
        result = merge_completions(conn, tenant_id=validated["tenant_id"], batch_id=validated["batch_id"],
                                   watermarks=watermarks)
    return {k: v for k, v in validated.items() if k not in ("gate", "watermarks")} | result.as_counts()
