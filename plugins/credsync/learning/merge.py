"""Merging a validated batch into core.completions: resolve actors, hold the unknown, apply voids."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from credsync.ingest.gate import BatchNotValidated
from credsync.ingest.watermarks import advance_watermark
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class MergeResult:
    """What one merge changed in core (all zero when rerun on the same batch)."""

    inserted: int
    held: int
    released: int
    voided: int

    def as_counts(self) -> dict[str, int]:
        return {"inserted": self.inserted, "held": self.held, "released": self.released, "voided": self.voided}


def merge_completions(
    conn: psycopg.Connection,
    *,
    tenant_id: str,
    batch_id: str,
    watermarks: dict[tuple[str, str], str] | None = None,
) -> MergeResult:
    """Merge batch ``batch_id`` (and retry held completions) in one transaction; idempotent.

    ``watermarks`` ({(source, stream): watermark}) advance in the same transaction,
    so they never move past data that did not commit. A merged batch merges again
    as a no-op (held completions are still retried).
    """
    from credsync.learning.staging import require_idle

    require_idle(conn, "merge_completions")
    params = {"tenant_id": tenant_id, "batch_id": batch_id}
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('credsync.completions:' || %s))", (tenant_id,))
        cur.execute("SELECT status FROM audit.batches WHERE batch_id = %s AND tenant_id = %s FOR UPDATE",
                    (batch_id, tenant_id))
        row = cur.fetchone()
        if row is None or row[0] not in ("validated", "merged"):
            raise BatchNotValidated(
                f"batch {batch_id} of tenant {tenant_id} is {row[0] if row else 'missing'!r}, not validated"
            )
        _load_actor_hashes(cur, tenant_id)
        cur.execute(sql_text("learning/record_voids.sql"), params)
        cur.execute(sql_text("learning/candidates.sql"), params)
        cur.execute("ANALYZE resolved_candidates")  # a temp table has no statistics: the joins below need them
        cur.execute(sql_text("learning/merge_completions.sql"), params)
        inserted = cur.rowcount
        cur.execute(sql_text("learning/release_held.sql"), params)
        released = cur.rowcount
        cur.execute(sql_text("learning/hold_unresolved.sql"), params)
        held = cur.fetchone()[0]
        cur.execute(sql_text("learning/apply_voids.sql"), params)
        voided = cur.rowcount
        # A void reaches the LMS REST copy of the voided enrollment too (a credential may rest on it).
        cur.execute(sql_text("learning/void_rest_twins.sql"), params)
        voided += cur.rowcount
        cur.execute(sql_text("learning/mark_merged.sql"), params)
        for stream, watermark in (watermarks or {}).items():
            advance_watermark(cur, tenant_id=tenant_id, stream=stream, watermark=watermark, batch_id=batch_id,
                              order="text")
    return MergeResult(inserted=inserted, held=held, released=released, voided=voided)


#: Workers read per round trip while their email hashes are computed (bounded memory at any size).
HASH_CHUNK = 20_000


def _load_actor_hashes(cur: psycopg.Cursor, tenant_id: str) -> None:
    """mbox_sha1sum of every worker's work email (as given and lowercased), for set-based matching.

    Streamed: workers are read in chunks through a server-side cursor and each chunk's hashes are
    COPYed at once, so memory does not grow with the workforce. A hash two workers share cannot
    tell them apart and is left out (actor_hashes_unique.sql).
    """
    cur.execute(sql_text("learning/actor_hashes_temp.sql"))
    with cur.connection.cursor(name="credsync_worker_emails") as workers:
        workers.execute(
            "SELECT employee_id, work_email FROM core.workers WHERE tenant_id = %s AND work_email IS NOT NULL",
            (tenant_id,))
        while rows := workers.fetchmany(HASH_CHUNK):
            with cur.copy("COPY actor_hash_pairs (sha1, employee_id) FROM STDIN") as copy:
                for employee_id, email in rows:
                    for variant in {email.strip(), email.strip().lower()}:
                        # xAPI defines mbox_sha1sum as SHA1 of the mailto: IRI.
                        copy.write_row((hashlib.sha1(f"mailto:{variant}".encode()).hexdigest(),  # noqa: S324
                                        employee_id))
    cur.execute(sql_text("learning/actor_hashes_unique.sql"))
