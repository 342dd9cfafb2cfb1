"""SQLite state of the HRIS sandbox (``<data dir>/hris.sqlite``).

Workers are kept as versions: a change closes the current version
(``superseded_at``) and adds a new one. An export pinned to a snapshot instant
``as_of`` reads, for every worker, the version that was current at ``as_of``,
so paging stays complete and duplicate-free while workers change underneath.

All writes run under one process-wide lock that also hands out timestamps, so
``updated_at`` is strictly increasing and no write can commit "behind" a
snapshot already handed out. Readers use their own WAL connections and never
wait for writers. One server process per data dir (uvicorn's default).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sandbox.hris.timestamps import MonotonicClock, to_iso

SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (
    tenant_id TEXT PRIMARY KEY,
    workers INTEGER NOT NULL,
    seed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS worker_versions (
    tenant_id TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    superseded_at INTEGER,
    doc TEXT NOT NULL,
    PRIMARY KEY (tenant_id, employee_id, updated_at)
);
CREATE INDEX IF NOT EXISTS worker_versions_export ON worker_versions (tenant_id, updated_at, employee_id);
CREATE UNIQUE INDEX IF NOT EXISTS worker_versions_current
    ON worker_versions (tenant_id, employee_id) WHERE superseded_at IS NULL;
CREATE TABLE IF NOT EXISTS writebacks (
    tenant_id TEXT NOT NULL,
    kind TEXT NOT NULL,              -- 'certification' | 'payroll_flag' | 'career_eligibility'
    employee_id TEXT NOT NULL,
    item_key TEXT NOT NULL,          -- credential_type | flag | eligible_for
    doc TEXT NOT NULL,
    source_updated_at INTEGER,       -- certifications: the client's updated_at
    recorded_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, kind, employee_id, item_key)
);
CREATE INDEX IF NOT EXISTS writebacks_listing ON writebacks (tenant_id, kind, recorded_at, employee_id, item_key);
CREATE TABLE IF NOT EXISTS webhooks (
    tenant_id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    employee_id TEXT NOT NULL,
    url TEXT,
    outcome TEXT NOT NULL,           -- 'delivered' | 'failed' | 'dropped'
    status_code INTEGER,
    error TEXT,
    attempted_at TEXT NOT NULL,
    duration_ms INTEGER,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS applied_changes (
    tenant_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    applied INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, day)
);
"""
_TABLES = ("tenants", "worker_versions", "writebacks", "webhooks", "webhook_deliveries", "applied_changes")


class StaleWriteError(ValueError):
    """A write-back older than what the HRIS already holds."""

    def __init__(self, current: dict[str, Any]) -> None:
        super().__init__("an update with a later updated_at is already stored")
        self.current = current


def _worker_json(updated_at: int, doc: str) -> dict[str, Any]:
    worker = json.loads(doc)
    worker["updated_at"] = to_iso(updated_at)
    return worker


class HrisStore:
    """Everything the HRIS keeps, per tenant, in one SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._write_lock = threading.Lock()
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.executescript(SCHEMA)
            floor = conn.execute(
                "SELECT max(coalesce(max_u, 0)) FROM ("
                " SELECT max(max(updated_at), coalesce(max(superseded_at), 0)) AS max_u FROM worker_versions"
                " UNION ALL SELECT max(recorded_at) FROM writebacks)"
            ).fetchone()[0]
        # A restart must never hand out an instant at or before one already stored.
        self._clock = MonotonicClock(floor or 0)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")
            # Bulk seeding touches three indexes; a larger page cache keeps that in memory.
            conn.execute("PRAGMA cache_size=-65536")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock, self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # Snapshots and tenants.

    def snapshot(self) -> int:
        """A fresh instant: every committed change is before it, every later change after it."""
        with self._write_lock:
            return self._clock.reserve()

    def tenant_seed(self, tenant_id: str) -> tuple[int, int] | None:
        """``(workers, seed)`` the tenant was seeded with, if it was."""
        with self._connect() as conn:
            row = conn.execute("SELECT workers, seed FROM tenants WHERE tenant_id = ?", (tenant_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def worker_count(self, tenant_id: str) -> int:
        """Current workers of a tenant."""
        with self._connect() as conn:
            return conn.execute(
                "SELECT count(*) FROM worker_versions WHERE tenant_id = ? AND superseded_at IS NULL", (tenant_id,)
            ).fetchone()[0]

    def replace_tenant(self, tenant_id: str, count: int, seed: int, workers: Iterable[dict[str, Any]]) -> int:
        """Drop everything of a tenant and bulk-load ``workers`` (``count`` of them) as its day 0."""
        with self._write() as conn:
            for table in _TABLES:
                if table != "webhooks":  # the registered target survives a reseed
                    conn.execute(f"DELETE FROM {table} WHERE tenant_id = ?", (tenant_id,))
            conn.execute("INSERT INTO tenants (tenant_id, workers, seed) VALUES (?, ?, ?)", (tenant_id, count, seed))
            first = self._clock.reserve(max(count, 1))
            rows = (
                (tenant_id, worker["employee_id"], first + offset, _document(worker))
                for offset, worker in enumerate(workers)
            )
            cursor = conn.executemany(
                "INSERT INTO worker_versions (tenant_id, employee_id, updated_at, doc) VALUES (?, ?, ?, ?)", rows
            )
            return cursor.rowcount

    def reset(self) -> None:
        """Empty every table (the clock keeps running forward)."""
        with self._write() as conn:
            for table in _TABLES:
                conn.execute(f"DELETE FROM {table}")

    # Workers.

    def put_workers(
        self, tenant_id: str, workers: Iterable[dict[str, Any]]
    ) -> list[tuple[dict[str, Any] | None, dict[str, Any]]]:
        """Store new versions of ``workers`` in one transaction; ``(previous, stored)`` per worker."""
        results = []
        with self._write() as conn:
            for worker in workers:
                employee_id = worker["employee_id"]
                row = conn.execute(
                    "SELECT updated_at, doc FROM worker_versions"
                    " WHERE tenant_id = ? AND employee_id = ? AND superseded_at IS NULL",
                    (tenant_id, employee_id),
                ).fetchone()
                stamp = self._clock.reserve()
                if row:
                    conn.execute(
                        "UPDATE worker_versions SET superseded_at = ?"
                        " WHERE tenant_id = ? AND employee_id = ? AND superseded_at IS NULL",
                        (stamp, tenant_id, employee_id),
                    )
                doc = _document(worker)
                conn.execute(
                    "INSERT INTO worker_versions (tenant_id, employee_id, updated_at, doc) VALUES (?, ?, ?, ?)",
                    (tenant_id, employee_id, stamp, doc),
                )
                previous = _worker_json(row[0], row[1]) if row else None
                results.append((previous, _worker_json(stamp, doc)))
        return results

    def purge_worker(self, tenant_id: str, employee_id: str) -> int:
        """Delete every version and write-back of one worker (an erasure); rows removed."""
        with self._write() as conn:
            removed = 0
            for table in ("worker_versions", "writebacks"):
                removed += conn.execute(f"DELETE FROM {table} WHERE tenant_id = ? AND employee_id = ?",
                                        (tenant_id, employee_id)).rowcount
            return removed

    def mark_changes_applied(self, tenant_id: str, day: int, applied: int) -> bool:
        """Record that day ``day`` was applied; False if it already was."""
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO applied_changes (tenant_id, day, applied) VALUES (?, ?, ?)",
                (tenant_id, day, applied),
            )
            return cursor.rowcount == 1

    def changes_applied(self, tenant_id: str, day: int) -> bool:
        """Whether day ``day`` was applied to the tenant."""
        with self._connect() as conn:
            return conn.execute(
                "SELECT 1 FROM applied_changes WHERE tenant_id = ? AND day = ?", (tenant_id, day)
            ).fetchone() is not None

    def current_worker(self, tenant_id: str, employee_id: str) -> dict[str, Any] | None:
        """The current version of one worker."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT updated_at, doc FROM worker_versions"
                " WHERE tenant_id = ? AND employee_id = ? AND superseded_at IS NULL",
                (tenant_id, employee_id),
            ).fetchone()
        return _worker_json(row[0], row[1]) if row else None

    def export_page(
        self, tenant_id: str, since: int, as_of: int, after: tuple[int, str] | None, limit: int
    ) -> list[tuple[int, str, str]]:
        """``(updated_at, employee_id, doc)`` of workers as of ``as_of`` with ``since <= updated_at < as_of``.

        Ordered by ``(updated_at, employee_id)``, starting after ``after``.
        """
        last_stamp, last_id = after if after else (-1, "")
        with self._connect() as conn:
            return conn.execute(
                "SELECT updated_at, employee_id, doc FROM worker_versions"
                " WHERE tenant_id = ? AND updated_at >= ? AND updated_at < ?"
                " AND (superseded_at IS NULL OR superseded_at > ?)"
                " AND (updated_at, employee_id) > (?, ?)"
                " ORDER BY updated_at, employee_id LIMIT ?",
                (tenant_id, since, as_of, as_of, last_stamp, last_id, limit),
            ).fetchall()

    # Write-backs.

    def put_writeback(
        self, tenant_id: str, kind: str, employee_id: str, key: str, doc: dict[str, Any], source_updated_at: int | None
    ) -> tuple[bool, bool, int]:
        """Upsert one write-back; ``(created, changed, recorded_at)``.

        An identical body changes nothing (reruns are free); a certification
        older than the stored one raises :class:`StaleWriteError`.
        """
        text = json.dumps(doc, sort_keys=True)
        with self._write() as conn:
            row = conn.execute(
                "SELECT doc, source_updated_at, recorded_at FROM writebacks"
                " WHERE tenant_id = ? AND kind = ? AND employee_id = ? AND item_key = ?",
                (tenant_id, kind, employee_id, key),
            ).fetchone()
            if row and row[0] == text:
                return False, False, row[2]
            if row and source_updated_at is not None and row[1] is not None and source_updated_at < row[1]:
                raise StaleWriteError(json.loads(row[0]))
            stamp = self._clock.reserve()
            conn.execute(
                "INSERT INTO writebacks (tenant_id, kind, employee_id, item_key, doc, source_updated_at, recorded_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (tenant_id, kind, employee_id, item_key) DO UPDATE SET"
                " doc = excluded.doc, source_updated_at = excluded.source_updated_at,"
                " recorded_at = excluded.recorded_at",
                (tenant_id, kind, employee_id, key, text, source_updated_at, stamp),
            )
            return row is None, True, stamp

    def list_writebacks(
        self,
        tenant_id: str,
        kind: str,
        *,
        employee_id: str | None = None,
        since: int = 0,
        after: tuple[int, str, str] | None = None,
        limit: int = 1_000_000,
    ) -> list[tuple[int, str, str, str]]:
        """``(recorded_at, employee_id, key, doc)`` ordered by ``(recorded_at, employee_id, key)``."""
        last = after or (-1, "", "")
        sql = (
            "SELECT recorded_at, employee_id, item_key, doc FROM writebacks"
            " WHERE tenant_id = ? AND kind = ? AND recorded_at >= ?"
            " AND (recorded_at, employee_id, item_key) > (?, ?, ?)"
        )
        params: list[Any] = [tenant_id, kind, since, *last]
        if employee_id is not None:
            sql += " AND employee_id = ?"
            params.append(employee_id)
        sql += " ORDER BY recorded_at, employee_id, item_key LIMIT ?"
        params.append(limit)
        with self._connect() as conn:
            return conn.execute(sql, params).fetchall()

    # Webhooks.

    def set_webhook(self, tenant_id: str, url: str, secret: str) -> None:
        """Register (or replace) the tenant's webhook target."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO webhooks (tenant_id, url, secret) VALUES (?, ?, ?)"
                " ON CONFLICT (tenant_id) DO UPDATE SET url = excluded.url, secret = excluded.secret",
                (tenant_id, url, secret),
            )

    def delete_webhook(self, tenant_id: str) -> None:
        """Stop sending webhooks for the tenant."""
        with self._write() as conn:
            conn.execute("DELETE FROM webhooks WHERE tenant_id = ?", (tenant_id,))

    def webhook(self, tenant_id: str) -> tuple[str, str] | None:
        """``(url, secret)`` of the tenant's target, if registered."""
        with self._connect() as conn:
            row = conn.execute("SELECT url, secret FROM webhooks WHERE tenant_id = ?", (tenant_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def record_delivery(self, tenant_id: str, delivery: dict[str, Any]) -> None:
        """Append one delivery attempt to the tenant's log."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO webhook_deliveries (tenant_id, event_id, type, employee_id, url, outcome,"
                " status_code, error, attempted_at, duration_ms, body)"
                " VALUES (:tenant_id, :event_id, :type, :employee_id, :url, :outcome,"
                " :status_code, :error, :attempted_at, :duration_ms, :body)",
                {"tenant_id": tenant_id, **delivery},
            )

    def deliveries(self, tenant_id: str, limit: int) -> list[dict[str, Any]]:
        """The latest ``limit`` delivery attempts, oldest first."""
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute(
                "SELECT * FROM (SELECT id, event_id, type, employee_id, url, outcome, status_code, error,"
                " attempted_at, duration_ms, body FROM webhook_deliveries WHERE tenant_id = ?"
                " ORDER BY id DESC LIMIT ?) ORDER BY id",
                (tenant_id, limit),
            ).fetchall()
        return [{**dict(row), "body": json.loads(row["body"])} for row in rows]


def _document(worker: dict[str, Any]) -> str:
    return json.dumps({key: value for key, value in worker.items() if key != "updated_at"}, separators=(",", ":"))
