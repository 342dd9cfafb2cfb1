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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from credsync.audit.checkpoints import Checkpoint, ForgedCheckpoint

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
    """Something wrong with a tenant's chain: the first broken row, or a checkpoint it contradicts.

    ``kind`` is one of ``edited``, ``unlinked`` (a row deleted, inserted or reordered),
    ``rechained``, ``tail cut``, ``truncated`` or ``checkpoint forged``; ``event_id`` is None
    when no row stands for the finding (an empty chain, a forged file).
    """

    tenant_id: str
    event_id: int | None
    reason: str
    kind: str = "edited"


@dataclass
class ChainReport:
    """Result of :func:`verify_chain`: rows and checkpoints checked, findings, and caveats."""

    checked: int = 0
    tenants: int = 0
    checkpoints: int = 0
    breaks: list[ChainBreak] = field(default_factory=list)
    # Not failures: what the run could not vouch for (events newer than the last checkpoint...).
    warnings: list[str] = field(default_factory=list)

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


def verify_chain(conn: psycopg.Connection, tenant_id: str | None = None, *,
                 checkpoints: Mapping[str, Sequence[Checkpoint]] | None = None,
                 forged: Sequence[ForgedCheckpoint] = ()) -> ChainReport:
    """Recompute every row hash of one tenant (or all) and hold the chain against its checkpoints.

    A row is broken when its ``prev_hash`` is not the stored hash of the row
    before it (a row was deleted or reordered) or its ``row_hash`` does not
    match its own content (a row was edited). With ``checkpoints`` (trusted,
    from :func:`credsync.audit.checkpoints.load_checkpoints`), the row at each
    checkpointed position must be the checkpointed one (else the chain was
    rewritten: ``rechained``), and the chain must be at least as long as the
    longest checkpoint (else ``tail cut``, or ``truncated`` when it is empty).
    ``forged`` files are reported as findings and trusted for nothing.
    """
    if tenant_id is not None:
        tenants = [tenant_id]
    else:
        known = {r[0] for r in conn.execute("SELECT DISTINCT tenant_id FROM audit.events")}
        # A tenant whose every event is gone still has its checkpoints.
        tenants = sorted(known | set(checkpoints or {}) | {f.tenant_id for f in forged})
    report = ChainReport(tenants=len(tenants))
    for fake in forged:
        if tenant_id is None or fake.tenant_id == tenant_id:
            report.breaks.append(ChainBreak(fake.tenant_id, None, f"checkpoint forged: {fake.name}: {fake.reason}",
                                            kind="checkpoint forged"))
    for tenant in tenants:
        _verify_tenant(conn, tenant, None if checkpoints is None else checkpoints.get(tenant, ()), report)
    return report


def _verify_tenant(conn: psycopg.Connection, tenant: str, checkpoints: Sequence[Checkpoint] | None,
                   report: ChainReport) -> None:
    by_position = {c.seq: c for c in checkpoints or ()}
    expected_prev = GENESIS_HASH
    position = 0
    last_event_id: int | None = None
    broken = rechained = False
    for event_id, tid, event_type, entity_type, entity_key, detail, occurred_at, prev, stored in (
        _tenant_rows(conn, tenant)
    ):
        position += 1
        report.checked += 1
        last_event_id = event_id
        if not broken:
            if prev != expected_prev:
                report.breaks.append(ChainBreak(
                    tenant, event_id,
                    "prev_hash does not match the row before it (a row was deleted, inserted or reordered)",
                    kind="unlinked"))
                broken = True
            elif row_hash(prev, tenant_id=tid, event_type=event_type, entity_type=entity_type,
                          entity_key=entity_key, detail=detail, occurred_at=occurred_at) != stored:
                report.breaks.append(ChainBreak(
                    tenant, event_id, "row_hash does not match the row's content (the row was edited)"))
                broken = True
            expected_prev = stored
        checkpoint = by_position.get(position)
        if checkpoint is not None and not rechained:
            report.checkpoints += 1
            if (event_id, stored) != (checkpoint.last_event_id, checkpoint.last_hash):
                report.breaks.append(ChainBreak(
                    tenant, event_id,
                    f"rechained after edit: event {position} of the chain is event_id={event_id} hashing to"
                    f" {stored[:16]}..., but the checkpoint of {checkpoint.created_at} recorded"
                    f" event_id={checkpoint.last_event_id} hashing to {checkpoint.last_hash[:16]}..."
                    " (rows before it were edited and re-hashed, or removed and re-appended)",
                    kind="rechained"))
                rechained = True
        if broken and checkpoints is None:
            break  # nothing left to compare: the first break is the answer
    if checkpoints is None:
        return
    if not checkpoints:
        if position:
            report.warnings.append(f"tenant {tenant}: no checkpoint yet; only the chain's own consistency"
                                   f" was checked ({position} events)")
        return
    longest = checkpoints[-1]
    if position == 0:
        report.breaks.append(ChainBreak(
            tenant, None,
            f"truncated: the tenant has no events, but the checkpoint of {longest.created_at} recorded"
            f" {longest.seq} ending at event_id={longest.last_event_id}", kind="truncated"))
    elif position < longest.seq:
        report.breaks.append(ChainBreak(
            tenant, last_event_id,
            f"tail cut: the chain ends after {position} events at event_id={last_event_id}, but the"
            f" checkpoint of {longest.created_at} recorded {longest.seq} ending at"
            f" event_id={longest.last_event_id}", kind="tail cut"))
    elif position > longest.seq:
        report.warnings.append(f"tenant {tenant}: {position - longest.seq} event(s) after the last checkpoint"
                               f" ({longest.created_at}) are covered by the chain only")
