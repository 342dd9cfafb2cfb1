"""The per-tenant hash chain over audit.events.

row_hash = sha256(prev_hash + canonical JSON of the event fields), where the
canonical JSON has sorted keys, no whitespace and ``occurred_at`` in UTC with
microseconds, so the hash can be recomputed from what Postgres stores. Appends
for one tenant are serialised with a transaction-scoped advisory lock: two
writers can never both build on the same chain head.

Two row formats (``hash_version``), both verified:

- 1 (rows written before migration 0020): the canonical JSON holds ``detail`` itself.
- 2 (every append since): it holds ``payload_sha256`` = sha256(``payload_salt`` +
  canonical JSON of ``{"entity_key", "detail"}``) in place of both, so a payload that
  has to go (retention, erasure) can be replaced by a tombstone, and its entity key by
  a pseudonym, while the row hash stays checkable (:mod:`credsync.audit.redact`). The
  salt is random per row and dropped with the payload, so the digest left behind
  cannot be tested against guesses of a small payload or an employee id.
"""

from __future__ import annotations

import hashlib
import json
import secrets
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
HASH_VERSION = 2
# The event that tombstoned other rows' payloads; written only by credsync.audit.redact.
REDACTION_EVENT = "audit.payloads_redacted"


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
    ``rechained``, ``tail cut``, ``truncated``, ``checkpoint forged`` or ``tombstone`` (a
    payload removed without a matching redaction event); ``event_id`` is None
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
    # Rows whose payload a redaction event replaced by a tombstone (checked, not failures).
    tombstoned: int = 0
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


def _canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(prev_hash: str, *, tenant_id: str, event_type: str, entity_type: str, entity_key: str,
             detail: Mapping[str, Any], occurred_at: datetime) -> str:
    """Version 1: sha256 hex of ``prev_hash`` followed by the canonical JSON of the event fields."""
    canonical = _canonical_json({
        "tenant_id": tenant_id,
        "event_type": event_type,
        "entity_type": entity_type,
        "entity_key": entity_key,
        "detail": _canonical_detail(detail),
        "occurred_at": _format_time(occurred_at),
    })
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def payload_digest(entity_key: str, detail: Mapping[str, Any], salt: str) -> str:
    """sha256 hex of ``salt`` followed by the canonical JSON of the entity key and detail (version 2)."""
    payload = {"entity_key": entity_key, "detail": _canonical_detail(detail)}
    return hashlib.sha256((salt + _canonical_json(payload)).encode("utf-8")).hexdigest()


def row_hash_v2(prev_hash: str, *, tenant_id: str, event_type: str, entity_type: str, payload_sha256: str,
                occurred_at: datetime) -> str:
    """Version 2: as :func:`row_hash`, with the salted digest of entity key and detail in their place."""
    canonical = _canonical_json({
        "v": 2,
        "tenant_id": tenant_id,
        "event_type": event_type,
        "entity_type": entity_type,
        "payload_sha256": payload_sha256,
        "occurred_at": _format_time(occurred_at),
    })
    return hashlib.sha256((prev_hash + canonical).encode("utf-8")).hexdigest()


def new_salt() -> str:
    return secrets.token_hex(16)


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
            salt = new_salt()
            payload = payload_digest(event.entity_key, detail, salt)
            digest = row_hash_v2(prev, tenant_id=tenant_id, event_type=event.event_type,
                                 entity_type=event.entity_type, payload_sha256=payload, occurred_at=occurred_at)
            rows.append((tenant_id, event.event_type, event.entity_type, event.entity_key,
                         Jsonb(detail), occurred_at, prev, digest, HASH_VERSION, payload, salt))
            prev = digest
        cur.executemany(
            "INSERT INTO audit.events (tenant_id, event_type, entity_type, entity_key, detail,"
            " occurred_at, prev_hash, row_hash, hash_version, payload_digest, payload_salt)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    return len(rows)


def _tenant_rows(conn: psycopg.Connection, tenant_id: str) -> Iterator[tuple]:
    # A named (server-side) cursor streams the chain instead of loading it whole.
    with conn.cursor(name=f"audit_verify_{abs(hash(tenant_id))}") as cur:
        cur.itersize = 5000
        cur.execute(
            "SELECT event_id, tenant_id, event_type, entity_type, entity_key, detail, occurred_at,"
            " prev_hash, row_hash, hash_version, payload_digest, payload_salt, tombstoned_by"
            " FROM audit.events WHERE tenant_id = %s ORDER BY event_id",
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


def tombstone_target(event_id: int, stored_hash: str, *, event_type: str, entity_type: str, entity_key: str,
                     occurred_at: datetime) -> str:
    """How a redaction event names one row it tombstoned (hashed into its ``targets_sha256``).

    The fields besides the detail are named too, the entity key as it reads after tombstoning (a
    pseudonym, if one replaced it): a tombstoned version-1 row cannot be re-hashed, and a
    tombstoned version-2 row's entity key is no longer covered by its digest, so the redaction
    event (itself on the chain) is what keeps them from being edited.
    """
    return _canonical_json([event_id, stored_hash, event_type, entity_type, entity_key, _format_time(occurred_at)])


def targets_digest(targets: Iterable[str]) -> str:
    """sha256 hex over the targets of one redaction event, in event_id order."""
    return hashlib.sha256("\n".join(targets).encode("utf-8")).hexdigest()


def _content_ok(row: tuple) -> str | None:
    """None when the row's stored hash matches its content, else why not."""
    (_event_id, tid, event_type, entity_type, entity_key, detail, occurred_at, prev, stored, version,
     digest, salt, tombstoned_by) = row
    if tombstoned_by is not None and not (isinstance(detail, Mapping) and "tombstone" in detail):
        return "the row is marked tombstoned but its detail is not a tombstone (the row was edited)"
    if version == 1:
        if tombstoned_by is not None:
            return None  # its payload is gone: the redaction event vouches for the row (see tombstone_target)
        ok = row_hash(prev, tenant_id=tid, event_type=event_type, entity_type=entity_type,
                      entity_key=entity_key, detail=detail, occurred_at=occurred_at) == stored
        return None if ok else "row_hash does not match the row's content (the row was edited)"
    if tombstoned_by is None and (salt is None or digest is None
                                  or payload_digest(entity_key, detail, salt) != digest):
        return ("row_hash does not match the row's content: its detail differs from the digest it was hashed"
                " with (the row was edited)")
    if tombstoned_by is not None and salt is not None:
        return "a tombstoned row still carries its salt (the row was edited)"
    ok = row_hash_v2(prev, tenant_id=tid, event_type=event_type, entity_type=entity_type,
                     payload_sha256=digest or "", occurred_at=occurred_at) == stored
    return None if ok else "row_hash does not match the row's content (the row was edited)"


def _redaction_ok(event_id: int, detail: Any, targets: list[str]) -> str | None:
    """None when a redaction event names exactly the rows that point at it, else why not."""
    named = detail.get("count") if isinstance(detail, Mapping) else None
    if named != len(targets) or detail.get("targets_sha256") != targets_digest(targets):
        return (f"redaction event {event_id} names {named} tombstoned row(s), but {len(targets)} point at it"
                " or their fields differ from what it recorded (a payload was removed or a row edited"
                " outside credsync.audit.redact)")
    return None


def _verify_tenant(conn: psycopg.Connection, tenant: str, checkpoints: Sequence[Checkpoint] | None,
                   report: ChainReport) -> None:
    by_position = {c.seq: c for c in checkpoints or ()}
    expected_prev = GENESIS_HASH
    position = 0
    last_event_id: int | None = None
    broken = rechained = False
    # Tombstoned rows seen so far, by the redaction event that must come later and name them.
    pending: dict[int, list[str]] = {}
    for row in _tenant_rows(conn, tenant):
        (event_id, _tid, event_type, entity_type, entity_key, detail, occurred_at, prev, stored, _version,
         _digest, _salt, tombstoned_by) = row
        position += 1
        report.checked += 1
        last_event_id = event_id
        if not broken:
            problem = kind = None
            if prev != expected_prev:
                problem = "prev_hash does not match the row before it (a row was deleted, inserted or reordered)"
                kind = "unlinked"
            elif (problem := _content_ok(row)) is not None:
                kind = "edited"
            elif tombstoned_by is not None:
                if tombstoned_by <= event_id:
                    problem, kind = (f"tombstoned by event {tombstoned_by}, which does not come after it",
                                     "tombstone")
                else:
                    report.tombstoned += 1
                    pending.setdefault(tombstoned_by, []).append(tombstone_target(
                        event_id, stored, event_type=event_type, entity_type=entity_type,
                        entity_key=entity_key, occurred_at=occurred_at))
            if (problem is None and event_type == REDACTION_EVENT
                    and (problem := _redaction_ok(event_id, detail, pending.pop(event_id, []))) is not None):
                kind = "tombstone"
            if problem is not None:
                report.breaks.append(ChainBreak(tenant, event_id, problem, kind=kind or "edited"))
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
    if not broken and pending:
        redaction_id, targets = min(pending.items())
        report.breaks.append(ChainBreak(
            tenant, json.loads(targets[0])[0],
            f"{len(targets)} row(s) tombstoned by event {redaction_id}, which is not a redaction event of"
            " this chain (a payload was removed outside credsync.audit.redact)", kind="tombstone"))
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
