"""The per-tenant hash chain over audit.events.

row_hash = sha256(prev_hash + canonical JSON of the event fields), where the
canonical JSON has sorted keys, no whitespace and ``occurred_at`` in UTC with
microseconds, so the hash can be recomputed from what Postgres stores. Appends
for one tenant are serialised with a transaction-scoped advisory lock: two
writers can never both build on the same chain head.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

GENESIS_HASH = "0" * 64
# First key of the two-key advisory lock ("audt"); the second is hashtext(tenant_id).
_LOCK_CLASS = 0x61756474
_HASHED_FIELDS = ("tenant_id", "event_type", "entity_type", "entity_key", "detail", "occurred_at")


@dataclass(frozen=True)
class AuditEvent:
    """One thing that happened to one entity (a credential, a submission, a write-back...)."""

    event_type: str
    entity_type: str
    entity_key: str
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChainBreak:
    """The first row of a tenant's chain that does not hash to what is stored."""

    tenant_id: str
    event_id: int
    reason: str


@dataclass
class ChainReport:
    """Result of :func:`verify_chain`: rows checked and the first break per tenant."""

    checked: int = 0
    tenants: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks


def _canonical_detail(detail: Mapping[str, Any]) -> dict[str, Any]:
    """``detail`` as it will read back from jsonb (dates and UUIDs become strings)."""
    return json.loads(json.dumps(dict(detail), default=str))


def _format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def row_hash(prev_hash: str, *, tenant_id: str, event_type: str, entity_type: str, entity_key: str,
             detail: Mapping[str, Any], occurred_at: datetime) -> str:
    """sha256 hex of ``prev_hash`` followed by the canonical JSON of the event fields."""
    canonical = json.dumps(
        {
            "tenant_id": tenant_id,
            "event_type": event_type,
            "entity_type": entity_type,
            "entity_key": entity_key,
            "detail": _canonical_detail(detail),
            "occurred_at": _format_time(occurred_at),
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def append_event(conn: psycopg.Connection, *, tenant_id: str, event_type: str, entity_type: str,
                 entity_key: str, detail: Mapping[str, Any] | None = None) -> None:
    """Append one event to ``tenant_id``'s chain in the caller's transaction.

    Never put secrets or more personal data than the entity key in ``detail``.
    """
    append_events(conn, tenant_id=tenant_id,
                  events=[AuditEvent(event_type, entity_type, entity_key, detail or {})])


def append_events(conn: psycopg.Connection, *, tenant_id: str, events: Iterable[AuditEvent]) -> int:
    """Append several events to one tenant's chain under one lock; returns how many."""
    from psycopg.types.json import Jsonb

    batch = list(events)
    if not batch:
        return 0
    with conn.cursor() as cur:
        # Held until the caller commits or rolls back, so the head we read stays the head.
        cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, tenant_id))
        cur.execute(
            "SELECT row_hash FROM audit.events WHERE tenant_id = %s ORDER BY event_id DESC LIMIT 1",
            (tenant_id,),
        )
        head = cur.fetchone()
        prev = head[0] if head else GENESIS_HASH
        # One timestamp per call, truncated to what timestamptz keeps (microseconds).
        occurred_at = datetime.now(UTC)
        rows = []
        for event in batch:
            detail = _canonical_detail(event.detail)
            digest = row_hash(prev, tenant_id=tenant_id, event_type=event.event_type,
                              entity_type=event.entity_type, entity_key=event.entity_key,
                              detail=detail, occurred_at=occurred_at)
            rows.append((tenant_id, event.event_type, event.entity_type, event.entity_key,
                         Jsonb(detail), occurred_at, prev, digest))
            prev = digest
        cur.executemany(
            "INSERT INTO audit.events (tenant_id, event_type, entity_type, entity_key, detail,"
            " occurred_at, prev_hash, row_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    return len(rows)


def _tenant_rows(conn: psycopg.Connection, tenant_id: str) -> Iterator[tuple]:
    # A named (server-side) cursor streams the chain instead of loading it whole.
    with conn.cursor(name=f"audit_verify_{abs(hash(tenant_id))}") as cur:
        cur.itersize = 5000
        cur.execute(
            "SELECT event_id, tenant_id, event_type, entity_type, entity_key, detail, occurred_at,"
            " prev_hash, row_hash FROM audit.events WHERE tenant_id = %s ORDER BY event_id",
            (tenant_id,),
        )
        yield from cur


def verify_chain(conn: psycopg.Connection, tenant_id: str | None = None) -> ChainReport:
    """Recompute every row hash of one tenant (or all); report the first broken row per tenant.

    A row is broken when its ``prev_hash`` is not the stored hash of the row
    before it (a row was deleted or reordered) or its ``row_hash`` does not
    match its own content (a row was edited).
    """
    if tenant_id is None:
        tenants = [r[0] for r in conn.execute("SELECT DISTINCT tenant_id FROM audit.events ORDER BY 1")]
    else:
        tenants = [tenant_id]
    report = ChainReport(tenants=len(tenants))
    for tenant in tenants:
        expected_prev = GENESIS_HASH
        for event_id, tid, event_type, entity_type, entity_key, detail, occurred_at, prev, stored in (
            _tenant_rows(conn, tenant)
        ):
            report.checked += 1
            if prev != expected_prev:
                report.breaks.append(ChainBreak(
                    tenant, event_id,
                    "prev_hash does not match the row before it (a row was deleted, inserted or reordered)"))
                break
            recomputed = row_hash(prev, tenant_id=tid, event_type=event_type, entity_type=entity_type,
                                  entity_key=entity_key, detail=detail, occurred_at=occurred_at)
            if recomputed != stored:
                report.breaks.append(ChainBreak(
                    tenant, event_id, "row_hash does not match the row's content (the row was edited)"))
                break
            expected_prev = stored
    return report
