"""Staging a pull of learning records: one batch, COPY into staging.completions, quarantine, counts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from credsync.learning.normalise import StagedCompletion
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

STAGING_TABLE = "staging.completions"
_COLUMNS = (
    "batch_id", "tenant_id", "row_number", "source", "source_id", "actor_key", "course_code", "verb",
    "voids_source_id", "success", "score", "completed_at", "stored_at", "registration", "raw",
    "mapping_version", "quarantine_rule", "quarantine_reason",
)  # fmt: skip


@dataclass(frozen=True)
class StagedBatch:
    """What staging produced; ``records_in = records_loaded + records_quarantined + records_dead``."""

    batch_id: str
    tenant_id: str
    records_in: int
    records_loaded: int
    records_quarantined: int
    records_dead: int

    def as_counts(self) -> dict[str, object]:
        return {
            "batch_id": self.batch_id, "tenant_id": self.tenant_id, "in": self.records_in,
            "loaded": self.records_loaded, "quarantined": self.records_quarantined, "dead": self.records_dead,
        }


def stage_completions(
    conn: psycopg.Connection,
    *,
    tenant_id: str,
    records: Iterable[StagedCompletion],
    mapping_version: str,
    dag_run_id: str | None = None,
    batch_id: str | None = None,
) -> StagedBatch:
    """Create a batch, COPY ``records`` into staging and quarantine the rejected ones, in one transaction."""
    require_idle(conn, "stage_completions")
    batch_id = batch_id or str(uuid.uuid4())
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(sql_text("learning/create_batch.sql"), {
            "batch_id": batch_id, "tenant_id": tenant_id, "mapping_version": mapping_version,
            "dag_run_id": dag_run_id,
        })
        with cur.copy(f"COPY {STAGING_TABLE} ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            for record in records:
                copy.write_row((
                    batch_id, tenant_id, record.row_number, record.source, record.source_id, record.actor_key,
                    record.course_code, record.verb, record.voids_source_id, record.success, record.score,
                    record.completed_at, record.stored_at, record.registration,
                    json.dumps(record.raw, default=str), record.mapping_version, record.quarantine_rule,
                    record.quarantine_reason,
                ))
        cur.execute(sql_text("learning/quarantine_rows.sql"), {"batch_id": batch_id})
        cur.execute(sql_text("learning/finish_staging.sql"), {"batch_id": batch_id})
        records_in, loaded, quarantined, dead = cur.fetchone()
    return StagedBatch(batch_id, tenant_id, records_in, loaded, quarantined, dead)


def require_idle(conn: psycopg.Connection, what: str) -> None:
    """Refuse to run inside a caller's open transaction: ``conn.transaction()`` would then only be a
    savepoint, and the work would not be committed (nor visible to the GX gate's own connection)."""
    from psycopg.pq import TransactionStatus

    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise RuntimeError(f"{what} manages its own transaction; commit or roll back first (or use autocommit)")
