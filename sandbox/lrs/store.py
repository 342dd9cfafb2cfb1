"""SQLite storage for statements and LMS REST completions, one file for all tenants.

Why this shape:
- ``statements`` keeps each statement exactly as stored (JSON) plus the columns the
  statement resource needs: ``stored_us`` for ordering and ``since``/``until``, ``voided``
  so queries skip voided statements with no join, ``voids`` (the id a voiding statement
  targets) and a ``fingerprint`` for the spec's "same id, same statement?" comparison.
- ``statement_keys`` is the filter index: one row per (agent|verb|activity|registration)
  key of a statement, clustered by ``(tenant, key, stored_us, seq)`` so any filtered page
  is one ordered range scan, also at a million statements.
- Writes are serialised (a process lock plus ``BEGIN IMMEDIATE``); reads run concurrently
  under WAL. The time a write started is remembered so ``X-Experience-API-Consistent-Through``
  never claims a moment whose statements are still being committed.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.lrs.filter_keys import all_keys, statement_ref_target
from sandbox.lrs.timestamps import TimestampError, iso_to_micros, micros_to_iso, now_micros
from sandbox.lrs.validation import VOIDED_VERB, StatementInvalid

SCHEMA = """
CREATE TABLE IF NOT EXISTS statements (
    seq INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    stored_us INTEGER NOT NULL,
    voided INTEGER NOT NULL DEFAULT 0,
    voids TEXT,
    fingerprint TEXT,
    body TEXT NOT NULL,
    UNIQUE (tenant, id)
);
CREATE INDEX IF NOT EXISTS statements_by_stored ON statements (tenant, stored_us, seq);
CREATE INDEX IF NOT EXISTS statements_by_voids ON statements (tenant, voids) WHERE voids IS NOT NULL;
CREATE TABLE IF NOT EXISTS statement_keys (
    tenant TEXT NOT NULL,
    key INTEGER NOT NULL,
    stored_us INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (tenant, key, stored_us, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS completions (
    tenant TEXT NOT NULL,
    enrollment_id TEXT NOT NULL,
    updated_us INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, enrollment_id)
);
CREATE INDEX IF NOT EXISTS completions_by_updated ON completions (tenant, updated_us, enrollment_id);
"""

# Order of preference for the index that drives a filtered scan: most selective first.
DRIVING_FILTERS = ("agent", "registration", "activity", "verb")
LRS_SET_PROPERTIES = ("stored", "authority", "version")


class StatementConflict(Exception):
    """A statement id already holds a different statement (the spec's 409 Conflict)."""


@dataclass(frozen=True)
class StatementQuery:
    """A GET /statements query: filter keys (see :mod:`filter_keys`), a stored window, order."""

    keys: dict[str, int]
    since_us: int | None = None
    until_us: int | None = None
    ascending: bool = False


@dataclass(frozen=True)
class StoredStatement:
    seq: int
    stored_us: int
    body: str


def fingerprint(statement: dict[str, Any]) -> str:
    """Hash of the parts of a statement that the spec's comparison rules look at.

    LRS-set properties are left out, ids are compared case-insensitively and the timestamp
    by instant, so an identical re-post is recognised even if a client reformats them.
    """
    comparable = {k: v for k, v in statement.items() if k not in LRS_SET_PROPERTIES}
    if isinstance(comparable.get("id"), str):
        comparable["id"] = comparable["id"].lower()
    if "timestamp" in comparable:
        with suppress(TimestampError, TypeError):
            comparable["timestamp"] = iso_to_micros(comparable["timestamp"])
    canonical = json.dumps(comparable, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _voided_target(statement: dict[str, Any]) -> str | None:
    verb = statement.get("verb")
    if isinstance(verb, dict) and verb.get("id") == VOIDED_VERB:
        return statement_ref_target(statement)
    return None


class LrsStore:
    """Statements and completions of every tenant in one SQLite file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._writing_since_us: int | None = None
        self._last_stored_us = 0
        with self._connection() as conn:
            conn.executescript(SCHEMA)

    # -- connections -------------------------------------------------------------------------

    @contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            # A bigger page cache keeps the key index's hot pages in memory during bulk seeding.
            conn.execute("PRAGMA cache_size=-65536")
            self._local.conn = conn
        yield conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One serialised write transaction; rolls back on any exception."""
        with self._write_lock, self._connection() as conn:
            self._writing_since_us = now_micros()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._writing_since_us = None

    def _next_stored_us(self) -> int:
        # Never go backwards, even if the wall clock does: stored order is what paging relies on.
        self._last_stored_us = max(now_micros(), self._last_stored_us)
        return self._last_stored_us

    def consistent_through_us(self, lag_seconds: float = 0.0) -> int:
        """The newest moment whose statements are all committed, minus the configured lag."""
        moment = now_micros()
        writing = self._writing_since_us
        if writing is not None:
            moment = min(moment, writing - 1)
        return moment - int(lag_seconds * 1_000_000)

    # -- writing statements ------------------------------------------------------------------

    def store_statements(
        self, tenant: str, statements: list[dict[str, Any]], *, authority: dict[str, Any], version: str
    ) -> list[str]:
        """Store validated statements atomically; return their ids in order.

        A statement whose id exists with the same content is left untouched (idempotent);
        with different content the whole batch is refused with :class:`StatementConflict`.
        """
        ids = [s.get("id", "").lower() for s in statements if s.get("id")]
        if len(ids) != len(set(ids)):
            raise StatementInvalid("statements: the batch contains two statements with the same id")
        with self._write() as conn:
            stored_us = self._next_stored_us()
            result: list[str] = []
            for index, received in enumerate(statements):
                statement = dict(received)
                statement_id = (statement.get("id") or str(uuid.uuid4())).lower()
                statement["id"] = statement_id
                print_ = fingerprint(statement)
                existing = conn.execute(
                    "SELECT fingerprint, body FROM statements WHERE tenant = ? AND id = ?", (tenant, statement_id)
                ).fetchone()
                if existing:
                    if (existing[0] or fingerprint(json.loads(existing[1]))) != print_:
                        raise StatementConflict(
                            f"statement[{index}]: id {statement_id} already holds a different statement"
                        )
                    result.append(statement_id)
                    continue
                self._check_voiding(conn, tenant, statement, f"statement[{index}]")
                stored = micros_to_iso(stored_us)
                statement["stored"] = stored
                statement["authority"] = authority
                statement.setdefault("version", version)
                statement.setdefault("timestamp", stored)
                self._insert(conn, tenant, statement, stored_us, print_)
                result.append(statement_id)
            return result

    @staticmethod
    def _check_voiding(conn: sqlite3.Connection, tenant: str, statement: dict[str, Any], path: str) -> None:
        target = _voided_target(statement)
        if target is None:
            return
        row = conn.execute("SELECT voids FROM statements WHERE tenant = ? AND id = ?", (tenant, target)).fetchone()
        if row is not None and row[0] is not None:
            raise StatementInvalid(f"{path}.object.id: {target} is a voiding statement, which cannot be voided")

    def _insert(
        self, conn: sqlite3.Connection, tenant: str, statement: dict[str, Any], stored_us: int, print_: str
    ) -> None:
        statement_id = statement["id"]
        voids = _voided_target(statement)
        already_voided = conn.execute(
            "SELECT 1 FROM statements WHERE tenant = ? AND voids = ? LIMIT 1", (tenant, statement_id)
        ).fetchone()
        cursor = conn.execute(
            "INSERT INTO statements (tenant, id, stored_us, voided, voids, fingerprint, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                tenant,
                statement_id,
                stored_us,
                1 if already_voided and voids is None else 0,
                voids,
                print_,
                json.dumps(statement, separators=(",", ":"), ensure_ascii=False),
            ),
        )
        seq = cursor.lastrowid
        keys = all_keys(statement, lambda target_id: self._load(conn, tenant, target_id))
        conn.executemany(
            "INSERT OR IGNORE INTO statement_keys (tenant, key, stored_us, seq) VALUES (?, ?, ?, ?)",
            [(tenant, key, stored_us, seq) for key in keys],
        )
        if voids is not None:
            # A voiding statement never voids another voiding statement (checked before for the API).
            conn.execute(
                "UPDATE statements SET voided = 1 WHERE tenant = ? AND id = ? AND voids IS NULL",
                (tenant, voids),
            )

    @staticmethod
    def _load(conn: sqlite3.Connection, tenant: str, statement_id: str) -> dict[str, Any] | None:
        row = conn.execute("SELECT body FROM statements WHERE tenant = ? AND id = ?", (tenant, statement_id)).fetchone()
        return json.loads(row[0]) if row else None

    def store_raw(
        self,
        tenant: str,
        statements: Iterable[dict[str, Any]],
        *,
        authority: dict[str, Any],
        version: str = "1.0.0",
        chunk_size: int = 5000,
    ) -> int:
        """Bulk insert without validation (seeding, injecting bad statements); returns rows added.

        Existing ids are skipped, so re-seeding is idempotent. A given ``stored`` that parses
        is kept (history), otherwise the chunk's store time is used. Memory stays bounded by
        ``chunk_size`` whatever the length of ``statements``.
        """
        added = 0
        chunk: list[dict[str, Any]] = []
        for statement in statements:
            chunk.append(statement)
            if len(chunk) >= chunk_size:
                added += self._store_raw_chunk(tenant, chunk, authority, version)
                chunk = []
        if chunk:
            added += self._store_raw_chunk(tenant, chunk, authority, version)
        return added

    def _store_raw_chunk(
        self, tenant: str, chunk: list[dict[str, Any]], authority: dict[str, Any], version: str
    ) -> int:
        with self._write() as conn:
            now_us = self._next_stored_us()
            prepared: dict[str, tuple[dict[str, Any], int]] = {}
            for raw in chunk:
                statement = dict(raw) if isinstance(raw, dict) else {"invalid": raw}
                statement_id = str(statement.get("id") or uuid.uuid4()).lower()
                statement["id"] = statement_id
                stored_us = None
                if isinstance(statement.get("stored"), str):
                    with suppress(TimestampError):
                        stored_us = iso_to_micros(statement["stored"])
                if stored_us is None:
                    stored_us = now_us
                    statement["stored"] = micros_to_iso(stored_us)
                statement.setdefault("authority", authority)
                statement.setdefault("version", version)
                statement.setdefault("timestamp", statement["stored"])
                prepared.setdefault(statement_id, (statement, stored_us))
            existing = self._existing_ids(conn, tenant, list(prepared))
            first_seq = (conn.execute("SELECT COALESCE(MAX(seq), 0) FROM statements").fetchone()[0]) + 1
            rows, key_rows = [], []
            fresh = {sid: item for sid, item in prepared.items() if sid not in existing}
            for offset, (statement_id, (statement, stored_us)) in enumerate(fresh.items()):
                seq = first_seq + offset
                # No fingerprint: it is computed from the body only if an API write ever reuses the id.
                rows.append(
                    (
                        seq,
                        tenant,
                        statement_id,
                        stored_us,
                        _voided_target(statement),
                        None,
                        json.dumps(statement, separators=(",", ":")),
                    )
                )

                def load(target_id: str) -> dict[str, Any] | None:
                    in_chunk = fresh.get(target_id)
                    return in_chunk[0] if in_chunk else self._load(conn, tenant, target_id)

                key_rows.extend((tenant, key, stored_us, seq) for key in all_keys(statement, load))
            conn.executemany(
                "INSERT INTO statements (seq, tenant, id, stored_us, voids, fingerprint, body)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            key_rows.sort()  # in index order: B-tree inserts then touch each page once
            conn.executemany(
                "INSERT OR IGNORE INTO statement_keys (tenant, key, stored_us, seq) VALUES (?, ?, ?, ?)",
                key_rows,
            )
            if any(row[4] for row in rows):
                self._apply_voiding(conn, tenant)
            return len(rows)

    @staticmethod
    def _existing_ids(conn: sqlite3.Connection, tenant: str, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 900):
            batch = ids[start : start + 900]
            marks = ",".join("?" * len(batch))
            found.update(
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM statements WHERE tenant = ? AND id IN ({marks})", (tenant, *batch)
                )
            )
        return found

    @staticmethod
    def _apply_voiding(conn: sqlite3.Connection, tenant: str) -> None:
        conn.execute(
            "UPDATE statements SET voided = 1 WHERE tenant = ? AND voided = 0 AND voids IS NULL AND id IN"
            " (SELECT voids FROM statements WHERE tenant = ? AND voids IS NOT NULL)",
            (tenant, tenant),
        )

    # -- reading statements ------------------------------------------------------------------

    def get_statement(self, tenant: str, statement_id: str, *, voided: bool) -> StoredStatement | None:
        """The statement with this id if its voided state is the one asked for, else None."""
        with self._connection() as conn:
            row = conn.execute(
                "SELECT seq, stored_us, body FROM statements WHERE tenant = ? AND id = ? AND voided = ?",
                (tenant, statement_id.lower(), 1 if voided else 0),
            ).fetchone()
        return StoredStatement(*row) if row else None

    def query_statements(
        self, tenant: str, query: StatementQuery, *, after: tuple[int, int] | None, limit: int
    ) -> list[StoredStatement]:
        """Up to ``limit`` non-voided statements in stored order, strictly after cursor ``after``."""
        drive = next((name for name in DRIVING_FILTERS if name in query.keys), None)
        if drive is not None:
            source = "statement_keys k JOIN statements s ON s.seq = k.seq"
            col_stored, col_seq = "k.stored_us", "k.seq"
            where = ["k.tenant = ?", "k.key = ?", "s.voided = 0"]
            params: list[Any] = [tenant, query.keys[drive]]
            for name, key in query.keys.items():
                if name == drive:
                    continue
                # Point lookups in the clustered key index: cheap per candidate row.
                where.append(
                    "EXISTS (SELECT 1 FROM statement_keys k2 WHERE k2.tenant = k.tenant AND k2.key = ?"
                    " AND k2.stored_us = k.stored_us AND k2.seq = k.seq)"
                )
                params.append(key)
        else:
            source = "statements s"
            col_stored, col_seq = "s.stored_us", "s.seq"
            where = ["s.tenant = ?", "s.voided = 0"]
            params = [tenant]
        if query.since_us is not None:
            where.append(f"{col_stored} > ?")
            params.append(query.since_us)
        if query.until_us is not None:
            where.append(f"{col_stored} <= ?")
            params.append(query.until_us)
        if after is not None:
            # Written as a range plus a tie-break so SQLite can seek the index to the cursor.
            op, strict = (">=", ">") if query.ascending else ("<=", "<")
            where.append(f"{col_stored} {op} ? AND ({col_stored} {strict} ? OR {col_seq} {strict} ?)")
            params.extend([after[0], after[0], after[1]])
        direction = "ASC" if query.ascending else "DESC"
        sql = (
            f"SELECT s.seq, s.stored_us, s.body FROM {source} WHERE {' AND '.join(where)}"
            f" ORDER BY {col_stored} {direction}, {col_seq} {direction} LIMIT ?"
        )
        params.append(limit)
        with self._connection() as conn:
            return [StoredStatement(*row) for row in conn.execute(sql, params)]

    def statement_counts(self, tenant: str) -> dict[str, int]:
        with self._connection() as conn:
            total, voided = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(voided), 0) FROM statements WHERE tenant = ?", (tenant,)
            ).fetchone()
            completions = conn.execute("SELECT COUNT(*) FROM completions WHERE tenant = ?", (tenant,)).fetchone()[0]
        return {"statements": total, "voided": voided, "completions": completions}

    # -- LMS REST completions ----------------------------------------------------------------

    def store_completions(
        self, tenant: str, items: Iterable[dict[str, Any]], *, replace: bool, chunk_size: int = 5000
    ) -> int:
        """Upsert completion items by enrollment_id; ``replace=False`` keeps existing ones (seeding)."""
        conflict = "DO UPDATE SET updated_us = excluded.updated_us, body = excluded.body" if replace else "DO NOTHING"
        sql = (
            "INSERT INTO completions (tenant, enrollment_id, updated_us, body) VALUES (?, ?, ?, ?)"
            f" ON CONFLICT (tenant, enrollment_id) {conflict}"
        )
        written = 0
        chunk: list[tuple[str, str, int, str]] = []

        def flush() -> int:
            with self._write() as conn:
                before = conn.total_changes
                conn.executemany(sql, chunk)
                return conn.total_changes - before

        for item in items:
            chunk.append(self._completion_row(tenant, item))
            if len(chunk) >= chunk_size:
                written += flush()
                chunk = []
        if chunk:
            written += flush()
        return written

    @staticmethod
    def _completion_row(tenant: str, item: dict[str, Any]) -> tuple[str, str, int, str]:
        enrollment_id = item.get("enrollment_id")
        if not isinstance(enrollment_id, str) or not enrollment_id:
            raise StatementInvalid(f"completion {item!r}: enrollment_id must be a non-empty string")
        body = dict(item)
        updated = body.get("updated_at")
        try:
            updated_us = iso_to_micros(updated) if isinstance(updated, str) else now_micros()
        except TimestampError:
            updated_us = now_micros()
        if not isinstance(updated, str):
            body["updated_at"] = micros_to_iso(updated_us)
        return tenant, enrollment_id, updated_us, json.dumps(body, separators=(",", ":"))

    def page_completions(
        self, tenant: str, *, since_us: int | None, after: tuple[int, str] | None, limit: int
    ) -> list[tuple[int, str, str]]:
        """Completions ordered by (updated_at, enrollment_id): rows of (updated_us, enrollment_id, body)."""
        where, params = ["tenant = ?"], [tenant]
        if since_us is not None:
            where.append("updated_us >= ?")
            params.append(since_us)
        if after is not None:
            where.append("updated_us >= ? AND (updated_us > ? OR enrollment_id > ?)")
            params.extend([after[0], after[0], after[1]])
        params.append(limit)
        with self._connection() as conn:
            return list(
                conn.execute(
                    f"SELECT updated_us, enrollment_id, body FROM completions WHERE {' AND '.join(where)}"
                    " ORDER BY updated_us, enrollment_id LIMIT ?",
                    params,
                )
            )

    # -- admin -------------------------------------------------------------------------------

    def is_empty(self, tenant: str) -> bool:
        with self._connection() as conn:
            return (
                conn.execute(
                    "SELECT NOT EXISTS (SELECT 1 FROM statements WHERE tenant = ?)"
                    " AND NOT EXISTS (SELECT 1 FROM completions WHERE tenant = ?)",
                    (tenant, tenant),
                ).fetchone()[0]
                == 1
            )

    def reset(self) -> None:
        with self._write() as conn:
            for table in ("statement_keys", "statements", "completions"):
                conn.execute(f"DELETE FROM {table}")
