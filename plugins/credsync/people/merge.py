"""Merge a validated HRIS batch into core.workers; the watermark moves with the merge."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from credsync.ingest.gate import BatchNotValidated
from credsync.ingest.watermarks import Stream
from credsync.ingest.watermarks import advance_watermark as move_watermark
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)


WORKERS_STREAM = Stream("hris", "workers")


@dataclass(frozen=True)
class MergeResult:
    batch_id: str
    inserted: int
    updated: int
    unchanged: int
    already_merged: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


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
        raise BatchNotValidated(
            f"batch {batch_id} of tenant {tenant_id} is {status!r}, not validated: refusing to merge")
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
    """Move the HRIS worker watermark forward; the export's ``as_of`` instants compare as timestamps."""
    move_watermark(conn, tenant_id=tenant_id, stream=WORKERS_STREAM, watermark=watermark, batch_id=batch_id,
                   order="instant")
