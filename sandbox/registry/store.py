"""SQLite state of the registry sandbox: certificates, idempotency records, tokens, request counts.

One connection guarded by a lock: the sandbox favours simple, obviously
serialisable writes over throughput. Each write runs in ``BEGIN IMMEDIATE`` so
the idempotency look-up, the duplicate check and the insert are one atomic step
even with several server threads (or a second process on the same file).
"""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import threading
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sandbox.registry.problems import problem
from sandbox.sqlite_writes import immediate_transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS certificates (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL,
    learner_id TEXT NOT NULL,
    learner_name TEXT NOT NULL,
    credential_type TEXT NOT NULL,
    credential_version TEXT NOT NULL,
    issued_on TEXT NOT NULL,
    expires_on TEXT,
    issuer TEXT NOT NULL,
    evidence_url TEXT,
    credential_jwt TEXT,
    credential_sha256 TEXT,
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revoked_at TEXT,
    revocation_reason TEXT,
    UNIQUE (tenant_id, learner_id, credential_type, credential_version)
);
CREATE INDEX IF NOT EXISTS certificates_listing ON certificates (tenant_id, updated_at, id);
CREATE INDEX IF NOT EXISTS certificates_credential ON certificates (credential_sha256);
CREATE TABLE IF NOT EXISTS idempotency_records (
    client_id TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_sha256 TEXT NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (client_id, idempotency_key)
);
CREATE TABLE IF NOT EXISTS tokens (
    token_sha256 TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS request_counts (
    method TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    status INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (method, endpoint, status)
);
"""

CERTIFICATE_INPUT_FIELDS = (
    "tenant_id",
    "learner_id",
    "learner_name",
    "credential_type",
    "credential_version",
    "issued_on",
    "expires_on",
    "issuer",
    "evidence_url",
    "credential_jwt",
)
CERTIFICATE_FIELDS = (
    "id",
    "status",
    *CERTIFICATE_INPUT_FIELDS,
    "created_at",
    "updated_at",
    "revoked_at",
    "revocation_reason",
)
_FIELD_LIST = ", ".join(CERTIFICATE_FIELDS)


@dataclass(frozen=True)
class WriteOutcome:
    """What a create answers: HTTP status, JSON body, and whether it is a stored replay."""

    status: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True)
class TokenGrant:
    client_id: str
    scopes: frozenset[str]
    expires_at: float


class InvalidCursorError(ValueError):
    """A listing cursor that this registry did not issue."""


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def request_fingerprint(certificate: dict[str, Any]) -> str:
    """Hash of the certificate's canonical JSON; absent optional fields count as null.

    Canonical so that key order or whitespace never turns a retry into "different body".
    """
    canonical = {name: certificate.get(name) for name in CERTIFICATE_INPUT_FIELDS}
    return sha256_hex(json.dumps(canonical, sort_keys=True, separators=(",", ":")))


def format_timestamp(moment: datetime) -> str:
    """UTC, microseconds, ``Z``: sorts lexically in time order, so SQL can compare strings."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_cursor(updated_at: str, certificate_id: str) -> str:
    return base64.urlsafe_b64encode(json.dumps([updated_at, certificate_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        updated_at, certificate_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not (isinstance(updated_at, str) and isinstance(certificate_id, str)):
            raise TypeError
    except (ValueError, TypeError):
        raise InvalidCursorError(f"cursor {cursor!r} was not issued by this registry") from None
    return updated_at, certificate_id


class RegistryStore:
    """All persistent state of one registry sandbox, in ``<data dir>/registry.sqlite``."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._last_timestamp = datetime.min.replace(tzinfo=UTC)

    # -- plumbing -----------------------------------------------------------------

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return immediate_transaction(self._db, self._lock)

    def now(self) -> str:
        """Current time, strictly increasing within this process so listings order writes exactly."""
        with self._lock:
            moment = datetime.now(UTC)
            if moment <= self._last_timestamp:
                moment = self._last_timestamp + timedelta(microseconds=1)
            self._last_timestamp = moment
            return format_timestamp(moment)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- certificates -------------------------------------------------------------

    @staticmethod
    def _certificate(row: sqlite3.Row) -> dict[str, Any]:
        return {name: row[name] for name in CERTIFICATE_FIELDS}

    def create_certificates(self, client_id: str, requests: list[tuple[str, dict[str, Any]]]) -> list[WriteOutcome]:
        """Apply (idempotency key, certificate) requests in order, in one transaction.

        Rules per request: a known key with the same body replays its stored
        answer; a known key with another body is 422 (not stored); a second
        certificate for the same (tenant, learner, type, version) is 409 naming
        the existing id; otherwise 201. 201 and 409 are stored under the key.
        """
        outcomes = []
        with self._transaction() as db:
            for key, certificate in requests:
                outcomes.append(self._create_one(db, client_id, key, certificate))
        return outcomes

    def _create_one(
        self, db: sqlite3.Connection, client_id: str, key: str, certificate: dict[str, Any]
    ) -> WriteOutcome:
        fingerprint = request_fingerprint(certificate)
        stored = db.execute(
            "SELECT request_sha256, status, body FROM idempotency_records WHERE client_id = ? AND idempotency_key = ?",
            (client_id, key),
        ).fetchone()
        if stored is not None:
            if stored["request_sha256"] == fingerprint:
                return WriteOutcome(stored["status"], json.loads(stored["body"]), replayed=True)
            return WriteOutcome(
                422,
                problem(
                    422,
                    "idempotency-key-reused",
                    f"Idempotency-Key {key!r} was already used with a different request body",
                    errors=[{"pointer": "", "message": "body differs from the first request with this key"}],
                ),
            )

        existing = db.execute(
            "SELECT id, status FROM certificates WHERE tenant_id = ? AND learner_id = ?"
            " AND credential_type = ? AND credential_version = ?",
            tuple(certificate[name] for name in ("tenant_id", "learner_id", "credential_type", "credential_version")),
        ).fetchone()
        if existing is not None:
            outcome = WriteOutcome(
                409,
                problem(
                    409,
                    "duplicate-certificate",
                    f"learner {certificate['learner_id']!r} of tenant {certificate['tenant_id']!r}"
                    " already holds"
                    f" {certificate['credential_type']!r} version {certificate['credential_version']!r}"
                    f" as {existing['id']} ({existing['status']})",
                    certificate_id=existing["id"],
                ),
            )
        else:
            now = self.now()
            record = {name: certificate.get(name) for name in CERTIFICATE_INPUT_FIELDS}
            jwt = record["credential_jwt"]
            db.execute(
                "INSERT INTO certificates (id, status, tenant_id, learner_id, learner_name, credential_type,"
                " credential_version, issued_on, expires_on, issuer, evidence_url, credential_jwt,"
                " credential_sha256, created_at, updated_at)"
                " VALUES (:id, 'active', :tenant_id, :learner_id, :learner_name, :credential_type,"
                " :credential_version, :issued_on, :expires_on, :issuer, :evidence_url, :credential_jwt,"
                " :credential_sha256, :now, :now)",
                {
                    **record,
                    "id": f"REG-{uuid.uuid4()}",
                    "now": now,
                    "credential_sha256": sha256_hex(jwt) if jwt else None,
                },
            )
            row = db.execute("SELECT * FROM certificates WHERE rowid = last_insert_rowid()").fetchone()
            outcome = WriteOutcome(201, self._certificate(row))
        db.execute(
            "INSERT INTO idempotency_records (client_id, idempotency_key, request_sha256, status, body,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (client_id, key, fingerprint, outcome.status, json.dumps(outcome.body), self.now()),
        )
        return outcome

    def get_certificate(self, certificate_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM certificates WHERE id = ?", (certificate_id,)).fetchone()
        return self._certificate(row) if row else None

    def revoke_certificate(self, certificate_id: str, reason: str) -> dict[str, Any] | None:
        """Revoke once; later calls leave revoked_at and the first reason untouched."""
        with self._transaction() as db:
            now = self.now()
            db.execute(
                "UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ?,"
                " updated_at = ? WHERE id = ? AND status = 'active'",
                (now, reason, now, certificate_id),
            )
            row = db.execute("SELECT * FROM certificates WHERE id = ?", (certificate_id,)).fetchone()
        return self._certificate(row) if row else None

    def list_certificates(
        self, tenant_id: str, updated_since: str | None, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One page ordered by (updated_at, id) and the cursor of the next page (None at the end)."""
        after = decode_cursor(cursor) if cursor else ("", "")
        # The cursor's timestamp is also a lower bound: SQLite cannot seek the listing index on the
        # row-value comparison alone, so without it every page rescans from the start (quadratic).
        since = max(updated_since or "", after[0])
        with self._lock:
            # Plain tuples zipped with the field names: sqlite3.Row look-ups by name cost more than the query.
            cursor_ = self._db.cursor()
            cursor_.row_factory = None
            rows = cursor_.execute(
                f"SELECT {_FIELD_LIST} FROM certificates WHERE tenant_id = ? AND updated_at >= ?"
                " AND (updated_at, id) > (?, ?) ORDER BY updated_at, id LIMIT ?",
                (tenant_id, since, after[0], after[1], limit + 1),
            ).fetchall()
        page = [dict(zip(CERTIFICATE_FIELDS, row, strict=True)) for row in rows[:limit]]
        next_cursor = encode_cursor(page[-1]["updated_at"], page[-1]["id"]) if len(rows) > limit else None
        return page, next_cursor

    def is_credential_revoked(self, credential_jwt: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM certificates WHERE credential_sha256 = ? AND status = 'revoked' LIMIT 1",
                (sha256_hex(credential_jwt),),
            ).fetchone()
        return row is not None

    def delete_certificate(self, certificate_id: str) -> bool:
        """Admin only: make the registry 'forget' a record, to seed reconciliation drift."""
        with self._transaction() as db:
            return db.execute("DELETE FROM certificates WHERE id = ?", (certificate_id,)).rowcount > 0

    # -- tokens -------------------------------------------------------------------

    def save_token(self, token: str, grant: TokenGrant) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM tokens WHERE expires_at < ?", (grant.expires_at - 86400,))
            db.execute(
                "INSERT INTO tokens VALUES (?, ?, ?, ?)",
                (sha256_hex(token), grant.client_id, " ".join(sorted(grant.scopes)), grant.expires_at),
            )

    def find_token(self, token: str) -> TokenGrant | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM tokens WHERE token_sha256 = ?", (sha256_hex(token),)).fetchone()
        if row is None:
            return None
        return TokenGrant(row["client_id"], frozenset(row["scopes"].split()), row["expires_at"])

    # -- statistics and admin -----------------------------------------------------

    def count_request(self, method: str, endpoint: str, status: int) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO request_counts VALUES (?, ?, ?, 1) ON CONFLICT (method, endpoint, status)"
                " DO UPDATE SET count = count + 1",
                (method, endpoint, status),
            )

    def stats(self) -> dict[str, Any]:
        with self._lock:
            requests = self._db.execute(
                "SELECT method, endpoint, status, count FROM request_counts ORDER BY endpoint, method, status"
            ).fetchall()
            certificates = self._db.execute(
                "SELECT tenant_id, status, count(*) AS n FROM certificates GROUP BY tenant_id, status"
            ).fetchall()
        by_status: dict[str, int] = {"active": 0, "revoked": 0}
        by_tenant: dict[str, int] = {}
        for row in certificates:
            by_status[row["status"]] += row["n"]
            by_tenant[row["tenant_id"]] = by_tenant.get(row["tenant_id"], 0) + row["n"]
        return {
            "requests": [dict(row) for row in requests],
            "requests_total": sum(row["count"] for row in requests),
            "certificates": {
                "total": sum(by_status.values()),
                "by_status": by_status,
                "by_tenant": by_tenant,
            },
        }

    def reset(self) -> None:
        """Empty every table (tokens included: clients must authenticate again)."""
        with self._transaction() as db:
            for table in ("certificates", "idempotency_records", "tokens", "request_counts"):
                db.execute(f"DELETE FROM {table}")
