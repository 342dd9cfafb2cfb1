"""What the marketplace's recorded member webhooks change, applied by the events task under the tenant's lock.

HR data is the source of truth: the marketplace never writes into it. So, once per recorded event
(core.marketplace_webhook_events, ``applied_at``/``outcome`` set in the same transaction):

- ``member.updated``: each field the mapping owns (a key of the record credsync last had acknowledged,
  core.marketplace_members.record) that the marketplace now holds differently is drift. The member is
  flagged for review: dead-lettered (source ``marketplace``, key ``members:<id>``, reason
  ``marketplace_webhook_drift``, the field names in the detail, the marketplace's values in the
  payload), where recon.marketplace_review lists it; replaying the letter (dlq_replay) PUTs today's HR
  record whole, which is the reviewer's decision. Fields the marketplace adds are its own: no drift.
  An update for a member credsync never sent is flagged too (reason ``marketplace_webhook_unknown_member``).
- ``member.deleted``: recorded in core.marketplace_deleted_members. From then on the member gets no PUT,
  and each event for them not yet acknowledged is dead with reason ``marketplace_member_deleted``
  (:func:`stop_deleted`), so nothing is sent to a member the marketplace removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from credsync.audit import append_event
from credsync.marketplace import ledger

if TYPE_CHECKING:
    import psycopg

DRIFT_REASON = "marketplace_webhook_drift"
UNKNOWN_MEMBER_REASON = "marketplace_webhook_unknown_member"
DELETED_REASON = "marketplace_member_deleted"


@dataclass
class Applied:
    updates: int = 0
    drifted: int = 0
    deletions: int = 0


def apply_webhooks(conn: psycopg.Connection, tenant_id: str) -> Applied:
    """Apply the tenant's recorded, not yet applied webhook events, oldest first (caller commits)."""
    done = Applied()
    rows = conn.execute(
        "SELECT event_id, event_type, member_id, occurred_at, body FROM core.marketplace_webhook_events"
        " WHERE tenant_id = %s AND applied_at IS NULL ORDER BY occurred_at, received_at, event_id FOR UPDATE",
        (tenant_id,)).fetchall()
    if not rows:
        return done
    sent = dict(conn.execute("SELECT member_id, record FROM core.marketplace_members WHERE tenant_id = %s",
                             (tenant_id,)).fetchall())
    for event_id, event_type, member_id, occurred_at, body in rows:
        if event_type == "member.deleted":
            conn.execute("INSERT INTO core.marketplace_deleted_members (tenant_id, member_id, event_id, deleted_at)"
                         " VALUES (%s, %s, %s, %s) ON CONFLICT (tenant_id, member_id) DO NOTHING",
                         (tenant_id, member_id, event_id, occurred_at))
            done.deletions += 1
            outcome = "member deleted: no further PUT or event"
        else:
            done.updates += 1
            outcome = _flag_drift(conn, tenant_id, event_id, member_id, sent.get(member_id), body.get("data") or {})
            done.drifted += outcome != "no drift"
        conn.execute("UPDATE core.marketplace_webhook_events SET applied_at = now(), outcome = %s"
                     " WHERE tenant_id = %s AND event_id = %s", (outcome, tenant_id, event_id))
        append_event(conn, tenant_id=tenant_id, event_type=f"marketplace.webhook.{event_type.split('.')[1]}",
                     entity_type="marketplace_member", entity_key=member_id,
                     detail={"event_id": event_id, "outcome": outcome})
    return done


def _flag_drift(conn: psycopg.Connection, tenant_id: str, event_id: str, member_id: str,
                record: dict[str, Any] | None, data: dict[str, Any]) -> str:
    if record is None:
        ledger.dead_letter_refusal(conn, tenant_id, f"members:{member_id}", UNKNOWN_MEMBER_REASON,
                                   {"event_id": event_id}, None)
        return "flagged: a member credsync never sent"
    fields = sorted(k for k in record if k != "member_id" and k in data and data[k] != record[k])
    if not fields:
        return "no drift"
    ledger.dead_letter_refusal(conn, tenant_id, f"members:{member_id}", DRIFT_REASON,
                               {"event_id": event_id, "fields": fields},
                               {"marketplace": {k: data[k] for k in fields}})
    return f"flagged: {', '.join(fields)} differ from HR data"


def deleted_members(conn: psycopg.Connection, tenant_id: str) -> set[str]:
    return {r[0] for r in conn.execute("SELECT member_id FROM core.marketplace_deleted_members WHERE tenant_id = %s",
                                       (tenant_id,)).fetchall()}


def stop_deleted(conn: psycopg.Connection, tenant_id: str) -> int:
    """Dead-letter every event not yet acknowledged for a deleted member; returns how many (caller commits)."""
    stopped = conn.execute(
        "UPDATE core.marketplace_events e SET state = 'dead', outcome = %s, last_error = 'the marketplace deleted"
        " this member' FROM core.marketplace_deleted_members d WHERE e.tenant_id = %s AND d.tenant_id = e.tenant_id"
        " AND d.member_id = e.member_id AND e.state IN ('pending', 'sent')"
        " RETURNING e.event_id, e.member_id, d.event_id",
        (DELETED_REASON, tenant_id)).fetchall()
    for eid, member_id, deletion in stopped:
        ledger.dead_letter_refusal(conn, tenant_id, f"event:{eid}", DELETED_REASON,
                                   {"member_id": member_id, "deleted_by_event": deletion}, None)
    return len(stopped)
