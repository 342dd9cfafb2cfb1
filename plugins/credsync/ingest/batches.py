"""One ``audit.batches`` row per source window: a window whose batch was refused is staged again
as that same batch, so a retry replaces its staged rows and quarantine instead of adding to them.

Both ingestion paths call :func:`open_batch` (``people/staging.py``, ``learning/staging.py``);
each then clears its own staging table for a retried attempt (``<source>/clear_attempt.sql``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class StagedBatch:
    """What staging made of one window, as ``audit.batches`` counts it:
    ``records_in = records_loaded + records_quarantined + records_dead`` (``records_loaded`` = staged to
    load if the gate passes; a refusal sets it to 0 in the table). ``attempt`` > 1: the window's refused
    batch was staged again. ``parked``: records diverted as parked (HRIS); ``schema_drift``: the blocking
    drift found while staging, for the gate (HRIS)."""

    batch_id: str
    tenant_id: str
    records_in: int
    records_loaded: int
    records_quarantined: int
    records_dead: int = 0
    attempt: int = 1
    mapping_version: str | None = None
    parked: int = 0
    schema_drift: str | None = None

    def as_counts(self) -> dict[str, object]:
        """The XCom form both flows hand from stage to gate to merge."""
        return {
            "batch_id": self.batch_id, "tenant_id": self.tenant_id, "records_in": self.records_in,
            "loaded": self.records_loaded, "quarantined": self.records_quarantined, "dead": self.records_dead,
            "attempt": self.attempt, "mapping_version": self.mapping_version, "parked": self.parked,
            "schema_drift": self.schema_drift,
        }


class BatchClosed(ValueError):
    """The named batch is merged, or belongs to another tenant, source or stream: not re-staged."""


@dataclass(frozen=True)
class BatchAttempt:
    """The batch a staging run writes to, and which attempt at its window this is (1 = first)."""

    batch_id: str
    attempt: int

    @property
    def retried(self) -> bool:
        return self.attempt > 1


def open_batch(
    conn: psycopg.Connection | psycopg.Cursor,
    *,
    tenant_id: str,
    source: str,
    stream: str,
    mapping_version: str | None,
    window_key: str | None = None,
    batch_id: str | None = None,
    dag_run_id: str | None = None,
) -> BatchAttempt:
    """Create the batch of this window, or re-open its not-yet-merged batch (attempts + 1).

    ``window_key`` names what the batch covers (``updated_since=<watermark>``, ``full``,
    ``file=<name>``, ...); without one every call is a new batch. An explicit ``batch_id``
    re-stages that batch. Runs in the caller's transaction; raises :class:`BatchClosed`
    when the batch cannot be re-staged (the caller rolls back).
    """
    params = {"tenant_id": tenant_id, "source": source, "stream": stream, "window_key": window_key}
    if batch_id is None and window_key is not None:
        row = conn.execute(sql_text("ingest/open_batch.sql"), params).fetchone()
        batch_id = row[0] if row else None
    batch_id = batch_id or str(uuid.uuid4())
    row = conn.execute(sql_text("ingest/stage_batch.sql"), {
        **params, "batch_id": batch_id, "mapping_version": mapping_version, "dag_run_id": dag_run_id,
    }).fetchone()
    if row is None:
        raise BatchClosed(f"batch {batch_id} is merged or not a {source} {stream} batch of tenant {tenant_id}:"
                          " not re-staged")
    return BatchAttempt(batch_id, row[0])
