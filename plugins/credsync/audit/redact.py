"""Tombstone audit payloads: the detail goes, the chain stays verifiable.

An audit event's ``detail`` may hold personal data that has to go when its retention
period ends or its subject is erased. Deleting the row would break the chain, so the
payload is replaced by a tombstone instead:

1. the rows to tombstone are read under the tenant's chain lock;
2. one ``audit.payloads_redacted`` event is appended that names them (a count and a
   sha256 over each row's id, stored hash and other fields, see
   :func:`credsync.audit.chain.tombstone_target`), with the reason and legal basis;
3. ``audit.tombstone_events`` (migration 0020, the only UPDATE the chain allows, and
   the runtime role's only way to it) replaces each row's detail by
   ``{"tombstone": {"reason", "basis", "redaction_event_id"}}``, drops its salt and,
   when the caller maps it, replaces its entity key (an employee id) by a pseudonym.

:func:`credsync.audit.verify_chain` then still checks every link, re-hashes a
version-2 row from the payload digest it kept, and holds every tombstoned row against
the redaction event that names it: a payload removed any other way is a break.

Everything runs in the caller's transaction and nothing commits here, so a caller can
tombstone in the same transaction as its own changes (all or nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from credsync.audit.chain import (
    _LOCK_CLASS,
    REDACTION_EVENT,
    AuditEvent,
    append_events,
    targets_digest,
    tombstone_target,
)

if TYPE_CHECKING:
    import psycopg

# One redaction event per this many rows, so that no single statement or array grows unbounded.
CHUNK = 5000


@dataclass(frozen=True)
class Redaction:
    """What one call tombstoned: the rows, and the redaction events that name them."""

    tenant_id: str
    tombstoned: int = 0
    event_ids: tuple[int, ...] = ()
    redaction_event_ids: tuple[int, ...] = ()


def _lock(conn: psycopg.Connection, tenant_id: str) -> None:
    # The append lock (re-entrant within the transaction): no event is appended between
    # reading the targets and naming them.
    conn.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_LOCK_CLASS, tenant_id))


def tombstone_events(conn: psycopg.Connection, *, tenant_id: str, event_ids: Iterable[int], reason: str,
                     basis: str, reference: str, entity_keys: Mapping[str, str] | None = None) -> Redaction:
    """Replace the detail of ``tenant_id``'s events ``event_ids`` by tombstones.

    ``entity_keys`` maps original entity keys to their replacements (``{employee_id: pseudonym}``):
    a tombstoned row whose entity key is mapped gets the replacement, the others keep theirs.

    ``reason`` says why (``retention``, ``erasure``), ``basis`` the legal basis (a policy,
    a request), ``reference`` what asked for it (a retention run id, an erasure request id:
    no personal data, it becomes the redaction event's entity key). Events already
    tombstoned, redaction events themselves and ids of other tenants are skipped, so a
    rerun tombstones nothing. Returns what was tombstoned; commits nothing.
    """
    wanted = sorted({int(i) for i in event_ids})
    if not wanted:
        return Redaction(tenant_id)
    _lock(conn, tenant_id)
    rows = conn.execute(
        "SELECT event_id, row_hash, event_type, entity_type, entity_key, occurred_at FROM audit.events"
        " WHERE tenant_id = %s AND event_id = ANY(%s) AND tombstoned_by IS NULL AND event_type <> %s"
        " ORDER BY event_id",
        (tenant_id, wanted, REDACTION_EVENT),
    ).fetchall()
    from psycopg.types.json import Jsonb

    renames = dict(entity_keys or {})
    done: list[int] = []
    redactions: list[int] = []
    for start in range(0, len(rows), CHUNK):
        chunk = rows[start:start + CHUNK]
        ids = [r[0] for r in chunk]
        new_keys = [renames.get(r[4], r[4]) for r in chunk]
        # Named as they will read afterwards: the redaction event never holds an original key.
        targets = [tombstone_target(r[0], r[1], event_type=r[2], entity_type=r[3], entity_key=key,
                                    occurred_at=r[5]) for r, key in zip(chunk, new_keys, strict=True)]
        append_events(conn, tenant_id=tenant_id, events=[AuditEvent(
            REDACTION_EVENT, "audit_events", reference,
            {"reason": reason, "basis": basis, "count": len(ids), "targets_sha256": targets_digest(targets),
             "first_event_id": ids[0], "last_event_id": ids[-1]})])
        redaction_id = conn.execute(
            "SELECT max(event_id) FROM audit.events WHERE tenant_id = %s", (tenant_id,)).fetchone()[0]
        changed = conn.execute(
            "SELECT audit.tombstone_events(%s, %s::bigint[], %s, %s, %s::text[])",
            (tenant_id, ids, redaction_id, Jsonb({"reason": reason, "basis": basis}), new_keys),
        ).fetchone()[0]
        assert changed == len(ids), "audit.tombstone_events checks this itself"
        done.extend(ids)
        redactions.append(redaction_id)
    return Redaction(tenant_id, len(done), tuple(done), tuple(redactions))


def subject_event_ids(conn: psycopg.Connection, *, tenant_id: str, values: Iterable[str],
                      entity_types: Sequence[str] | None = None) -> list[int]:
    """Ids of ``tenant_id``'s untombstoned events about any of ``values``.

    An event is about a value when its entity key is the value, or when any scalar
    anywhere in its detail equals it (an employee id, an email, a learner id...).
    ``entity_types`` narrows the entity-key match (the detail match is always made).
    """
    wanted = sorted({str(v) for v in values if str(v)})
    if not wanted:
        return []
    type_filter = "" if entity_types is None else " AND entity_type = ANY(%(types)s)"
    rows = conn.execute(
        "SELECT event_id FROM audit.events WHERE tenant_id = %(t)s AND tombstoned_by IS NULL"
        " AND event_type <> %(redaction)s AND ("
        f"(entity_key = ANY(%(values)s){type_filter})"
        " OR EXISTS (SELECT 1 FROM jsonb_path_query(detail, 'strict $.**') AS v(value)"
        "            WHERE jsonb_typeof(v.value) IN ('string', 'number') AND v.value #>> '{}' = ANY(%(values)s)))"
        " ORDER BY event_id",
        {"t": tenant_id, "redaction": REDACTION_EVENT, "values": wanted, "types": list(entity_types or [])},
    ).fetchall()
    return [r[0] for r in rows]


def tombstone_subject(conn: psycopg.Connection, *, tenant_id: str, values: Iterable[str], reason: str,
                      basis: str, reference: str, entity_types: Sequence[str] | None = None,
                      entity_keys: Mapping[str, str] | None = None) -> Redaction:
    """Tombstone every event about any of ``values`` (see :func:`subject_event_ids`)."""
    ids = subject_event_ids(conn, tenant_id=tenant_id, values=values, entity_types=entity_types)
    return tombstone_events(conn, tenant_id=tenant_id, event_ids=ids, reason=reason, basis=basis,
                            reference=reference, entity_keys=entity_keys)


def expired_event_ids(conn: psycopg.Connection, *, tenant_id: str, before: datetime,
                      event_types: Sequence[str] | None = None) -> list[int]:
    """Ids of ``tenant_id``'s untombstoned events that occurred before ``before`` (optionally of some types)."""
    type_filter = "" if event_types is None else " AND event_type = ANY(%(types)s)"
    rows = conn.execute(
        "SELECT event_id FROM audit.events WHERE tenant_id = %(t)s AND tombstoned_by IS NULL"
        f" AND event_type <> %(redaction)s AND occurred_at < %(before)s{type_filter} ORDER BY event_id",
        {"t": tenant_id, "redaction": REDACTION_EVENT, "before": before, "types": list(event_types or [])},
    ).fetchall()
    return [r[0] for r in rows]
