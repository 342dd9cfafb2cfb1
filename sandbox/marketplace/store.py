"""SQLite state of the marketplace sandbox: clients, tokens and their audit, members, learning records,
badges, events, idempotency records, bulk imports, webhook targets and deliveries.

One connection behind a lock, each write in ``BEGIN IMMEDIATE`` (as the registry sandbox): the
idempotency look-up and the write it guards are one atomic step. Every change to a member, record or
badge takes the next value of one sequence; listings page by it, so a page never moves under a
concurrent write (see :meth:`MarketplaceStore.page`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sandbox.hris.cursors import CursorError, decode_cursor, encode_cursor
from sandbox.marketplace.config import Client, parse_client
from sandbox.marketplace.problems import ProblemError
from sandbox.sqlite_writes import immediate_transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta VALUES ('seq', 0);
CREATE TABLE IF NOT EXISTS clients (client_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS keys (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token_sha256 TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    client_id TEXT NOT NULL,
    family_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    issued_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'spent', 'revoked'))
);
CREATE INDEX IF NOT EXISTS tokens_family ON tokens (family_id);
CREATE TABLE IF NOT EXISTS token_audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    client_id TEXT NOT NULL,
    action TEXT NOT NULL,
    family_id TEXT,
    token_kind TEXT,
    token_ref TEXT,
    scopes TEXT,
    detail TEXT
);
CREATE TABLE IF NOT EXISTS idempotency_records (
    client_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (client_id, idempotency_key)
);
CREATE TABLE IF NOT EXISTS members (
    tenant TEXT NOT NULL,
    member_id TEXT NOT NULL,
    created_seq INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, member_id)
);
CREATE TABLE IF NOT EXISTS events (
    tenant TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    member_id TEXT NOT NULL,
    signed_at INTEGER NOT NULL,
    signature TEXT NOT NULL,
    received_at TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, event_id)
);
CREATE INDEX IF NOT EXISTS events_signature ON events (tenant, signed_at, signature);
CREATE TABLE IF NOT EXISTS event_receipts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    event_id TEXT,
    outcome TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS imports (
    import_id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    client_id TEXT NOT NULL,
    status TEXT NOT NULL,
    received_at TEXT NOT NULL,
    ready_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhooks (tenant TEXT PRIMARY KEY, url TEXT NOT NULL, secret TEXT NOT NULL,
                                     max_attempts INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    event_id TEXT NOT NULL,
    type TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    status INTEGER,
    at TEXT NOT NULL
);
"""
# Learning records and badges are stored alike: one row per member and course (or badge).
ACTIVITY_TABLE = """
CREATE TABLE IF NOT EXISTS {table} (
    tenant TEXT NOT NULL,
    record_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, record_id)
);
"""
SCHEMA += "".join(ACTIVITY_TABLE.format(table=table) for table in ("learning_records", "badges"))
# Career-path eligibility granted in the HRIS, one row per member and eligibility (a PUT replaces it).
SCHEMA += """
CREATE TABLE IF NOT EXISTS eligibility (
    tenant TEXT NOT NULL,
    member_id TEXT NOT NULL,
    eligible_for TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (tenant, member_id, eligible_for)
);
"""
TABLES = ("clients", "tokens", "token_audit", "idempotency_records", "members", "learning_records", "badges",
          "eligibility", "events", "event_receipts", "imports", "webhooks", "webhook_deliveries")
RESET_TABLES = tuple(t for t in TABLES if t != "clients")
LISTINGS = {"members": "members", "learning-records": "learning_records", "badges": "badges"}


@dataclass(frozen=True)
class Outcome:
    """A write's answer: HTTP status, JSON body, and whether it is a stored replay."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def sha256_hex(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def canonical(value: Any) -> str:
    """Key order and whitespace never make a retry a "different body"."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def profile_of(stored: dict[str, Any]) -> dict[str, Any]:
    """The mapped profile of a stored member: without the fields the marketplace adds."""
    return {k: v for k, v in stored.items() if k not in ("updated_at", "created_at")}


def learning_records_of(member: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A member's learning records, one per course, joined from the mapped arrays."""
    records: dict[str, dict[str, Any]] = {}

    def record(course_id: str) -> dict[str, Any]:
        return records.setdefault(course_id, {
            "record_id": f"{member['member_id']}:{course_id}", "member_id": member["member_id"],
            "course_id": course_id, "completed": False, "completed_at": None, "score": None,
            "grading_scale": None, "enrollment_state": None,
        })

    for item in member.get("learning_completed") or []:
        record(item["course_id"]).update(completed=item["completed"], completed_at=item.get("completed_at"))
    for item in member.get("score") or []:
        record(item["course_id"]).update(score=item["score"], grading_scale=item.get("grading_scale"))
    for item in member.get("enrollment_state") or []:
        record(item["course_id"]).update(enrollment_state=item["state"])
    return records


def badges_of(member: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        item["badge_id"]: {"record_id": f"{member['member_id']}:{item['badge_id']}", "member_id": member["member_id"],
                           **item}
        for item in member.get("badge_awarded") or []
    }


class MarketplaceStore:
    """All persistent state of one marketplace sandbox, in ``<data dir>/marketplace.sqlite``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        # Cursors carry a MAC under a key kept with the data: opaque and tamper-evident, valid across restarts.
        self._db.execute("INSERT OR IGNORE INTO keys VALUES ('cursor', ?)", (secrets.token_hex(32),))
        self._cursor_key = bytes.fromhex(self._read("SELECT value FROM keys WHERE name = 'cursor'")[0]["value"])

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._db, self._lock)

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    @staticmethod
    def _next_seq(db: sqlite3.Connection) -> int:
        return int(db.execute("UPDATE meta SET value = value + 1 WHERE name = 'seq' RETURNING value").fetchone()[0])

    def reset(self) -> None:
        """Forget everything but the registered clients (they are configuration)."""
        with self.transaction() as db:
            for table in RESET_TABLES:
                db.execute(f"DELETE FROM {table}")

    # -- clients ------------------------------------------------------------------

    def save_client(self, client: Client) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO clients VALUES (?, ?)", (client.client_id, canonical(client.as_json())))

    def clients(self) -> dict[str, Client]:
        rows = self._read("SELECT client_id, body FROM clients")
        return {row["client_id"]: parse_client(row["client_id"], json.loads(row["body"])) for row in rows}

    # -- tokens and their audit ---------------------------------------------------

    def save_token(self, db: sqlite3.Connection, token: str, kind: str, client_id: str, family_id: str,
                   scopes: frozenset[str], ttl: float) -> None:
        issued = time.time()
        db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, ?, ?, ?, 'active')",
                   (sha256_hex(token), kind, client_id, family_id, " ".join(sorted(scopes)), issued, issued + ttl))

    def find_token(self, token: str) -> dict[str, Any] | None:
        rows = self._read("SELECT * FROM tokens WHERE token_sha256 = ?", (sha256_hex(token),))
        return dict(rows[0]) if rows else None

    @staticmethod
    def audit(db: sqlite3.Connection, client_id: str, action: str, *, family_id: str | None = None,
              kind: str | None = None, token: str | None = None, scopes: frozenset[str] | None = None,
              detail: str | None = None) -> None:
        """Record a token event. Only a short hash prefix of the token: the audit must never hold a secret."""
        db.execute(
            "INSERT INTO token_audit (at, client_id, action, family_id, token_kind, token_ref, scopes, detail)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (now_text(), client_id, action, family_id, kind, sha256_hex(token)[:12] if token else None,
             " ".join(sorted(scopes)) if scopes is not None else None, detail),
        )

    def audit_now(self, client_id: str, action: str, **fields: Any) -> None:
        with self.transaction() as db:
            self.audit(db, client_id, action, **fields)

    @staticmethod
    def revoke_family(db: sqlite3.Connection, family_id: str) -> int:
        return db.execute("UPDATE tokens SET status = 'revoked' WHERE family_id = ? AND status != 'revoked'",
                          (family_id,)).rowcount

    def clip_access_tokens(self, ttl: int) -> None:
        """A shorter policy applies to live access tokens too: that is how an admin forces a refresh."""
        with self.transaction() as db:
            db.execute("UPDATE tokens SET expires_at = MIN(expires_at, issued_at + ?) WHERE kind = 'access'", (ttl,))

    # -- idempotent writes --------------------------------------------------------

    def idempotent(self, client_id: str, key: str, fingerprint: str,
                   apply: Callable[[sqlite3.Connection], tuple[int, dict[str, Any]]]) -> Outcome:
        """Run ``apply`` once per (client, Idempotency-Key); a retry with the same request replays its answer.

        The same key with another request is 422 ``idempotency_conflict`` and changes nothing. A problem
        raised by ``apply`` is not stored: the request never happened, so the client may fix and resend it.
        """
        with self.transaction() as db:
            row = db.execute("SELECT fingerprint, status, body FROM idempotency_records WHERE client_id = ? AND"
                             " idempotency_key = ?", (client_id, key)).fetchone()
            if row is not None:
                if row["fingerprint"] != fingerprint:
                    raise ProblemError(422, "idempotency_conflict",
                                       f"Idempotency-Key {key!r} was already used with a different request")
                return Outcome(row["status"], json.loads(row["body"]), replayed=True)
            status, body = apply(db)
            db.execute("INSERT INTO idempotency_records VALUES (?, ?, ?, ?, ?, ?)",
                       (client_id, key, fingerprint, status, canonical(body), now_text()))
            return Outcome(status, body)

    # -- members, learning records, badges ---------------------------------------

    def member(self, tenant: str, member_id: str, db: sqlite3.Connection | None = None) -> dict[str, Any] | None:
        sql, params = "SELECT body FROM members WHERE tenant = ? AND member_id = ? AND deleted = 0", (tenant, member_id)
        rows = db.execute(sql, params).fetchall() if db is not None else self._read(sql, params)
        return json.loads(rows[0]["body"]) if rows else None

    def put_member(self, db: sqlite3.Connection, tenant: str, profile: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Store a mapped member profile and the learning records and badges it carries.

        Returns (created, stored view). Records and badges change (take a new sequence value) only when
        their content does, so a resent profile does not make every record look new to delta readers.
        Records no longer in a profile stay, as marketplaces keep learning history.
        """
        member_id = profile["member_id"]
        at = now_text()
        row = db.execute("SELECT created_seq, deleted, body FROM members WHERE tenant = ? AND member_id = ?",
                         (tenant, member_id)).fetchone()
        created = row is None or bool(row["deleted"])
        previous = None if created else json.loads(row["body"])
        stored = {**profile, "updated_at": at, "created_at": at if created or previous is None
                  else previous.get("created_at", at)}
        seq = self._next_seq(db)
        db.execute(
            "INSERT INTO members VALUES (?, ?, ?, ?, ?, 0, ?) ON CONFLICT (tenant, member_id) DO UPDATE SET"
            " seq = excluded.seq, updated_at = excluded.updated_at, deleted = 0, body = excluded.body,"
            " created_seq = CASE WHEN members.deleted = 1 THEN excluded.created_seq ELSE members.created_seq END",
            (tenant, member_id, seq, seq, at, canonical(stored)),
        )
        for table, items in (("learning_records", learning_records_of(profile)), ("badges", badges_of(profile))):
            for item in items.values():
                old = db.execute(f"SELECT body FROM {table} WHERE tenant = ? AND record_id = ?",
                                 (tenant, item["record_id"])).fetchone()
                if old is not None and {k: v for k, v in json.loads(old["body"]).items() if k != "updated_at"} == item:
                    continue
                db.execute(
                    f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?, ?, ?, ?)",
                    (tenant, item["record_id"], member_id, self._next_seq(db), at,
                     canonical({**item, "updated_at": at})),
                )
        return created, stored

    def put_eligibility(self, db: sqlite3.Connection, tenant: str, member_id: str,
                        grant: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """Store one eligibility of a member (404 ``not_found`` for an unknown or deleted member).

        Returns (created, stored view); a PUT of the same eligibility replaces it (review_state may change).
        """
        if self.member(tenant, member_id, db) is None:
            raise ProblemError(404, "not_found", f"member {member_id!r} not found")
        key = (tenant, member_id, grant["eligible_for"])
        row = db.execute("SELECT body FROM eligibility WHERE tenant = ? AND member_id = ? AND eligible_for = ?",
                         key).fetchone()
        at = now_text()
        stored = {**grant, "member_id": member_id, "updated_at": at,
                  "created_at": json.loads(row["body"])["created_at"] if row else at}
        db.execute("INSERT OR REPLACE INTO eligibility VALUES (?, ?, ?, ?, ?)", (*key, at, canonical(stored)))
        return row is None, stored

    def eligibility(self, tenant: str, member_id: str) -> list[dict[str, Any]] | None:
        """A member's eligibility in eligible_for order; None for an unknown member."""
        if self.member(tenant, member_id) is None:
            return None
        return [json.loads(r["body"]) for r in self._read(
            "SELECT body FROM eligibility WHERE tenant = ? AND member_id = ? ORDER BY eligible_for",
            (tenant, member_id))]

    def delete_member(self, tenant: str, member_id: str) -> bool:
        with self.transaction() as db:
            return db.execute("UPDATE members SET deleted = 1, seq = ?, updated_at = ? WHERE tenant = ? AND"
                              " member_id = ? AND deleted = 0",
                              (self._next_seq(db), now_text(), tenant, member_id)).rowcount == 1

    def page(self, listing: str, tenant: str, *, cursor: str | None, limit: int,
             updated_since: str | None = None) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a listing and the opaque cursor of the next (None on the last page).

        The first page pins the sequence value of the newest write (``as_of``); later pages see only rows
        no newer than it, so a write during paging neither duplicates nor shifts a row. Members page in
        member_id order among those that existed at ``as_of`` (a member updated meanwhile is still listed,
        with its newer content); records and badges page in change order, so a row changed during paging
        drops out of this pass and comes back in the next ``updated_since`` read, which begins after every
        row this pass returned.
        """
        table = LISTINGS[listing]
        if cursor is not None:
            try:
                state = decode_cursor(self._verified(cursor), kind=listing, tenant_id=tenant)
                as_of, after, since = int(state["a"]), state["l"], state.get("u")
            except (CursorError, KeyError, TypeError, ValueError):
                raise ProblemError(400, "invalid_cursor", "the cursor was not issued for this listing") from None
            if updated_since is not None and updated_since != since:
                raise ProblemError(400, "invalid_cursor", "the cursor belongs to another updated_since")
        else:
            as_of = int(self._read("SELECT value FROM meta WHERE name = 'seq'")[0]["value"])
            after, since = None, updated_since
        if table == "members":
            sql = ("SELECT body, member_id AS k FROM members WHERE tenant = ? AND deleted = 0 AND created_seq <= ?"
                   + (" AND updated_at >= ?" if since else "") + (" AND member_id > ?" if after else "")
                   + " ORDER BY member_id LIMIT ?")
            params: list[Any] = [tenant, as_of, *([since] if since else []), *([after] if after else []), limit + 1]
        else:
            sql = (f"SELECT body, seq AS k FROM {table} WHERE tenant = ? AND seq <= ?"
                   + (" AND updated_at >= ?" if since else "") + (" AND seq > ?" if after else "")
                   + " ORDER BY seq LIMIT ?")
            params = [tenant, as_of, *([since] if since else []), *([after] if after else []), limit + 1]
        rows = self._read(sql, tuple(params))
        data = [json.loads(row["body"]) for row in rows[:limit]]
        if len(rows) <= limit:
            return data, None
        return data, self._signed(encode_cursor({"k": listing, "t": tenant, "a": as_of, "l": rows[limit - 1]["k"],
                                                 "u": since}))

    def _mac(self, text: str) -> str:
        return hmac.new(self._cursor_key, text.encode(), hashlib.sha256).hexdigest()[:24]

    def _signed(self, cursor: str) -> str:
        return f"{cursor}.{self._mac(cursor)}"

    def _verified(self, cursor: str) -> str:
        text, _, mac = cursor.rpartition(".")
        if not text or not hmac.compare_digest(mac.encode(), self._mac(text).encode()):
            raise CursorError("the cursor was altered or not issued here")
        return text

    # -- events -------------------------------------------------------------------

    @staticmethod
    def find_event(db: sqlite3.Connection, tenant: str, event_id: str) -> dict[str, Any] | None:
        row = db.execute("SELECT * FROM events WHERE tenant = ? AND event_id = ?", (tenant, event_id)).fetchone()
        return dict(row) if row else None

    @staticmethod
    def signature_owner(db: sqlite3.Connection, tenant: str, signed_at: int, signature: str) -> str | None:
        row = db.execute("SELECT event_id FROM events WHERE tenant = ? AND signed_at = ? AND signature = ?",
                         (tenant, signed_at, signature)).fetchone()
        return row["event_id"] if row else None

    @staticmethod
    def save_event(db: sqlite3.Connection, tenant: str, event: dict[str, Any], signed_at: int,
                   signature: str) -> None:
        db.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (tenant, event["event_id"], event["type"], event["member_id"], signed_at, signature, now_text(),
                    canonical(event)))

    def receipt(self, tenant: str, event_id: str | None, outcome: str) -> None:
        """Every answer to POST /v1/events, so a test can count deliveries as the marketplace saw them."""
        with self.transaction() as db:
            db.execute("INSERT INTO event_receipts (tenant, event_id, outcome, at) VALUES (?, ?, ?, ?)",
                       (tenant, event_id, outcome, now_text()))

    # -- bulk imports ---------------------------------------------------------------

    @staticmethod
    def create_import(db: sqlite3.Connection, import_id: str, tenant: str, client_id: str, ready_at: float,
                      body: dict[str, Any]) -> None:
        db.execute("INSERT INTO imports VALUES (?, ?, ?, 'processing', ?, ?, ?)",
                   (import_id, tenant, client_id, now_text(), ready_at, canonical(body)))

    def finish_import(self, import_id: str, result: dict[str, Any]) -> None:
        with self.transaction() as db:
            db.execute("UPDATE imports SET status = ?, body = ? WHERE import_id = ?",
                       (result["status"], canonical(result), import_id))

    def get_import(self, tenant: str, import_id: str) -> dict[str, Any] | None:
        rows = self._read("SELECT status, ready_at, body FROM imports WHERE tenant = ? AND import_id = ?",
                          (tenant, import_id))
        if not rows:
            return None
        body = json.loads(rows[0]["body"])
        # The result is written as soon as the work is done but shown only from ready_at: eventual status.
        if rows[0]["status"] != "processing" and time.time() < rows[0]["ready_at"]:
            return {"import_id": import_id, "status": "processing"}
        return body

    # -- webhooks -------------------------------------------------------------------

    def set_webhook(self, tenant: str, url: str, secret: str, max_attempts: int) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO webhooks VALUES (?, ?, ?, ?)", (tenant, url, secret, max_attempts))

    def webhook(self, tenant: str) -> tuple[str, str, int] | None:
        rows = self._read("SELECT url, secret, max_attempts FROM webhooks WHERE tenant IN (?, '*') ORDER BY"
                          " tenant = '*'", (tenant,))
        return (rows[0]["url"], rows[0]["secret"], rows[0]["max_attempts"]) if rows else None

    def record_delivery(self, tenant: str, event: dict[str, Any], attempt: int, outcome: str,
                        status: int | None) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO webhook_deliveries (tenant, event_id, type, attempt, outcome, status, at)"
                       " VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (tenant, event["event_id"], event["type"], attempt, outcome, status, now_text()))

    # -- everything, for GET /admin/state --------------------------------------------

    def state(self) -> dict[str, Any]:
        def rows(sql: str) -> list[dict[str, Any]]:
            return [dict(row) for row in self._read(sql)]

        def bodies(table: str, **extra: str) -> list[dict[str, Any]]:
            columns = ", ".join(["tenant", "body", *extra])
            return [{"tenant": r["tenant"], **json.loads(r["body"]), **{k: r[c] for k, c in extra.items()}}
                    for r in self._read(f"SELECT {columns} FROM {table} ORDER BY tenant, rowid")]

        return {
            "clients": [{"client_id": c.client_id, "tenant": c.tenant, "scopes": sorted(c.scopes)}
                        for c in self.clients().values()],
            "members": bodies("members", deleted="deleted"),
            "learning_records": bodies("learning_records"),
            "badges": bodies("badges"),
            "eligibility": bodies("eligibility"),
            "events": bodies("events"),
            "event_receipts": rows("SELECT tenant, event_id, outcome, at FROM event_receipts ORDER BY seq"),
            "imports": [{"tenant": r["tenant"], "client_id": r["client_id"], **json.loads(r["body"])}
                        for r in self._read("SELECT tenant, client_id, body FROM imports ORDER BY received_at")],
            "idempotency_keys": rows("SELECT client_id, idempotency_key, status, created_at FROM idempotency_records"
                                     " ORDER BY created_at"),
            "tokens": rows("SELECT kind, client_id, family_id, scopes, issued_at, expires_at, status,"
                           " substr(token_sha256, 1, 12) AS token_ref FROM tokens ORDER BY issued_at"),
            "token_audit": rows("SELECT at, client_id, action, family_id, token_kind, token_ref, scopes, detail"
                                " FROM token_audit ORDER BY seq"),
            "webhooks": rows("SELECT tenant, url, max_attempts FROM webhooks"),
            "webhook_deliveries": rows("SELECT tenant, event_id, type, attempt, outcome, status, at FROM"
                                       " webhook_deliveries ORDER BY seq"),
        }
