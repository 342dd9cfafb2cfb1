"""Events after the initial sync: member changes PUT, completions and badge awards sent signed, once.

- **Members**: a member whose mapped record differs from the one the marketplace acknowledged, or who
  is new, is PUT whole (a PUT replaces the profile, its arrays included) under a key derived from
  member id and content, so a retry or a rerun of the same change is replayed, never applied twice.
- **Events**: each learning_completed / badge_awarded item not yet in the ledger
  (core.marketplace_events; the initial sync's items are there as ``bulk``) is recorded ``pending``
  under a UUIDv5 event id of tenant, type, member and item: a rebuild finds the same id.
- **Send**: a row is marked ``sent`` and committed before its request leaves; 202 ``accepted`` and
  200 ``duplicate`` (a lost answer's resend) are acknowledged; any other 4xx is ``dead`` with the
  problem code and dead-lettered (source ``marketplace``, reason ``marketplace_<code>``). The
  marketplace unavailable past the retry budget: what is not acknowledged stays ``sent`` and the
  next try resends it under the same event id. A 401/403 (token, scope, or a signing secret the
  marketplace does not hold: ``invalid_signature``) is no event's fault: the task fails, nothing is
  dead-lettered, and the run after the fix resends.
- **Webhooks back** (:mod:`credsync.marketplace.webhooks_apply`): the member changes the marketplace
  announced since the last run are applied first: drift in a field the mapping owns is flagged, a
  deleted member gets no PUT and their events not yet acknowledged are dead (``marketplace_member_deleted``).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from credsync.hooks.transport import AccessDenied, ServiceUnavailable
from credsync.marketplace import ledger
from credsync.marketplace.mapping import content_hash, to_json
from credsync.marketplace.profile import MarketplaceProfile
from credsync.marketplace.webhooks_apply import apply_webhooks, deleted_members, stop_deleted

if TYPE_CHECKING:
    import psycopg

    from credsync.hooks.marketplace import MarketplaceClient, WriteOutcome

NAMESPACE = uuid.UUID("5d0e6c1a-4c55-4a53-9d6f-6d6b74706c63")
FaultHook = Callable[[str, int], None]


class EventsIncomplete(RuntimeError):
    """The marketplace stayed unavailable; what was not acknowledged is resent by the next try."""


@dataclass
class EventsResult:
    tenant_id: str
    status: str = "sent"
    members_put: int = 0
    members_refused: int = 0
    recorded: int = 0
    sent: int = 0
    acknowledged: int = 0
    duplicates: int = 0
    dead: int = 0
    remaining: int = 0
    webhooks_applied: int = 0
    webhook_flags: int = 0

    def as_counts(self) -> dict[str, Any]:
        return asdict(self)


def event_id(tenant_id: str, event_type: str, member_id: str, item_key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{tenant_id}\0{event_type}\0{member_id}\0{item_key}"))


def item_events(tenant_id: str, member: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The events a member's items make: (item key, event body), completions first."""
    scores = {s["course_id"]: s for s in member.get("score", [])}
    out = []
    for item in member.get("learning_completed", []):
        score = scores.get(item["course_id"]) or {}
        data = {**item, "score": score.get("score"), "grading_scale": score.get("grading_scale")}
        out.append((item["course_id"], _event(tenant_id, "learning_completed", member["member_id"], item["course_id"],
                                              item["completed_at"], data)))
    for item in member.get("badge_awarded", []):
        out.append((item["badge_id"], _event(tenant_id, "badge_awarded", member["member_id"], item["badge_id"],
                                             item["issued_at"], item)))
    return out


def _event(tenant_id: str, kind: str, member_id: str, key: str, occurred_at: str,
           data: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": event_id(tenant_id, kind, member_id, key), "type": kind, "member_id": member_id,
            "occurred_at": occurred_at, "data": data}


def member_key(tenant_id: str, member_id: str, digest: str, salt: str = "") -> str:
    """The idempotency key of a member PUT: the same change always sends the same key."""
    return "member-" + str(uuid.uuid5(NAMESPACE, f"{tenant_id}\0{member_id}\0{digest}\0{salt}"))


def push_events(warehouse_url: str, tenant_id: str, profile: MarketplaceProfile, events_client: MarketplaceClient,
                members_client: MarketplaceClient, *, pseudonym_key: bytes | None = None,
                fault_hook: FaultHook | None = None) -> EventsResult:
    from credsync.warehouse import connect

    result = EventsResult(tenant_id)
    with connect(warehouse_url) as conn:
        ledger.lock(conn, tenant_id)
        if not conn.execute("SELECT 1 FROM core.marketplace_syncs WHERE tenant_id = %s AND status = 'completed'",
                            (tenant_id,)).fetchone():
            conn.commit()
            result.status = "no_initial_sync"
            return result
        applied = apply_webhooks(conn, tenant_id)
        result.webhooks_applied, result.webhook_flags = applied.updates + applied.deletions, applied.drifted
        deleted = deleted_members(conn, tenant_id)
        built = ledger.build(conn, tenant_id, profile, pseudonym_key=pseudonym_key)
        ledger.quarantine(conn, tenant_id, built)
        known = dict(conn.execute("SELECT member_id, content_hash FROM core.marketplace_members WHERE tenant_id = %s",
                                  (tenant_id,)).fetchall())
        conn.commit()
        try:
            for member in map(to_json, built.members):
                digest = content_hash(member)
                # A member the marketplace deleted is not PUT back; their new events are stopped below.
                if member["member_id"] not in deleted and known.get(member["member_id"]) != digest:
                    ok = put_member(conn, tenant_id, members_client, member, digest,
                                    built.employee_of.get(member["member_id"], member["member_id"]))
                    result.members_put += ok
                    result.members_refused += not ok
                    if not ok and member["member_id"] not in known:
                        continue  # the marketplace has no such member: its events would be refused too
                result.recorded += _record_events(conn, tenant_id, member)
                conn.commit()
            result.dead += stop_deleted(conn, tenant_id)
            conn.commit()
            work = conn.execute("SELECT event_id, body FROM core.marketplace_events WHERE tenant_id = %s"
                                " AND state IN ('pending', 'sent') ORDER BY created_at, event_id",
                                (tenant_id,)).fetchall()
            conn.commit()
            for number, (eid, body) in enumerate(work, start=1):
                _send(conn, tenant_id, events_client, str(eid), body, result)
                if fault_hook:
                    fault_hook("after_send", number)
        finally:
            result.remaining = conn.execute("SELECT count(*) FROM core.marketplace_events WHERE tenant_id = %s"
                                            " AND state IN ('pending', 'sent')", (tenant_id,)).fetchone()[0]
            ledger.audit_tokens(conn, tenant_id, "events", events_client, members_client)
            conn.commit()
    return result


def put_member(conn: psycopg.Connection, tenant_id: str, client: MarketplaceClient, record: dict[str, Any],
               digest: str, employee_id: str, *, salt: str = "") -> bool:
    """PUT one member profile; acknowledged → core.marketplace_members, refused → dead-lettered."""
    outcome = client.put_member(record, member_key(tenant_id, record["member_id"], digest, salt))
    if outcome.accepted:
        conn.execute(
            "INSERT INTO core.marketplace_members (tenant_id, member_id, employee_id, content_hash, record, via)"
            " VALUES (%s, %s, %s, %s, %s, 'put') ON CONFLICT (tenant_id, member_id) DO UPDATE SET"
            " content_hash = EXCLUDED.content_hash, record = EXCLUDED.record, via = 'put', updated_at = now()",
            (tenant_id, record["member_id"], employee_id, digest, Jsonb(record)))
        return True
    ledger.dead_letter_refusal(conn, tenant_id, f"member:{record['member_id']}",
                               ledger.refusal_reason(outcome.status, outcome.code),
                               {"status": outcome.status, "answer": outcome.body}, {"member": record})
    return False


def _record_events(conn: psycopg.Connection, tenant_id: str, member: dict[str, Any]) -> int:
    rows = [(tenant_id, e["event_id"], e["type"], e["member_id"], key, Jsonb(e))
            for key, e in item_events(tenant_id, member)]
    if not rows:
        return 0
    with conn.cursor() as cur:
        before = cur.execute("SELECT count(*) FROM core.marketplace_events WHERE tenant_id = %s AND member_id = %s",
                             (tenant_id, member["member_id"])).fetchone()[0]
        cur.executemany("INSERT INTO core.marketplace_events (tenant_id, event_id, event_type, member_id, item_key,"
                        " body) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", rows)
        after = cur.execute("SELECT count(*) FROM core.marketplace_events WHERE tenant_id = %s AND member_id = %s",
                            (tenant_id, member["member_id"])).fetchone()[0]
    return int(after - before)


def _mark(conn: psycopg.Connection, tenant_id: str, eid: str, state: str, *, outcome: str | None = None,
          status: int | None = None, error: str | None = None) -> None:
    conn.execute(
        "UPDATE core.marketplace_events SET state = %(state)s, outcome = coalesce(%(outcome)s, outcome),"
        " last_status = coalesce(%(status)s, last_status), last_error = %(error)s,"
        " attempts = attempts + CASE WHEN %(state)s = 'sent' THEN 1 ELSE 0 END,"
        " sent_at = CASE WHEN %(state)s = 'sent' THEN now() ELSE sent_at END,"
        " acknowledged_at = CASE WHEN %(state)s = 'acknowledged' THEN now() ELSE acknowledged_at END"
        " WHERE tenant_id = %(tenant_id)s AND event_id = %(event_id)s"
        # Forward only (pending -> sent -> dead -> acknowledged): a late answer never undoes a later state.
        " AND core.registry_submission_rank(state) <= core.registry_submission_rank(%(state)s)",
        {"state": state, "outcome": outcome, "status": status, "error": error, "tenant_id": tenant_id,
         "event_id": eid})


def _send(conn: psycopg.Connection, tenant_id: str, client: MarketplaceClient, eid: str, body: dict[str, Any],
          result: EventsResult) -> None:
    _mark(conn, tenant_id, eid, "sent")
    conn.commit()
    result.sent += 1
    try:
        outcome = client.post_event(body)
    except AccessDenied as exc:
        _mark(conn, tenant_id, eid, "sent", status=exc.status, error=str(exc)[:1000])
        conn.commit()
        raise
    except ServiceUnavailable as exc:
        _mark(conn, tenant_id, eid, "sent", status=exc.status, error=str(exc)[:1000])
        conn.commit()
        raise EventsIncomplete(f"tenant {tenant_id}: the marketplace is unavailable; events not acknowledged are "
                               f"resent under their ids by the next try (docs/runbook.md): {exc}") from exc
    _answer(conn, tenant_id, eid, body, outcome, result)
    conn.commit()


def _answer(conn: psycopg.Connection, tenant_id: str, eid: str, body: dict[str, Any], outcome: WriteOutcome,
            result: EventsResult) -> None:
    answered = outcome.body.get("status") if isinstance(outcome.body, dict) else None
    if outcome.accepted:
        duplicate = answered == "duplicate"
        _mark(conn, tenant_id, eid, "acknowledged", outcome="duplicate" if duplicate else "accepted",
              status=outcome.status)
        result.acknowledged += 1
        result.duplicates += duplicate
        return
    reason = ledger.refusal_reason(outcome.status, outcome.code)
    _mark(conn, tenant_id, eid, "dead", outcome=outcome.code or str(outcome.status), status=outcome.status,
          error=str(outcome.body)[:1000])
    ledger.dead_letter_refusal(conn, tenant_id, f"event:{eid}", reason,
                               {"status": outcome.status, "answer": outcome.body, "type": body.get("type")},
                               {"event": body})
    result.dead += 1
