"""Granted career-path eligibility to the talent marketplace: each grant PUT once, resent until acknowledged.

Issue 17: "approve -> eligibility written to the HRIS profile and the marketplace". The HRIS half is
credsync.careers; this is the marketplace half, a step of marketplace_sync after the events.

- **Record** (delta by ``updated_at``): each row of core.career_eligibility new or changed since the
  ledger (core.marketplace_eligibility) last saw it is recorded ``pending`` with its body
  ``{eligible_for, rule_id, rule_version, granted_at, review_state}``. A grant whose body did not
  change (e.g. only hris_written_at moved) keeps its state: nothing is sent again.
- **Address**: the member id the member sync gives the worker (:func:`credsync.marketplace.ledger.build`:
  contractors and alumni under their pseudonym), falling back to core.marketplace_members for a worker
  no longer built. A worker with neither (the mapping refused them: quarantined there) stays pending;
  a member the marketplace deleted (core.marketplace_deleted_members) gets nothing: the grant is dead
  (``marketplace_member_deleted``).
- **Send**: ``PUT /v1/members/{member_id}/eligibility/{eligible_for}`` under a key derived from case
  and content; the row is ``sent`` and committed before the request leaves, so a lost answer or a
  marketplace down past the retry budget leaves it ``sent`` and the next run resends the same key
  (the marketplace replays its first answer: applied once). 2xx is ``acknowledged``; any other 4xx
  is ``dead`` and dead-lettered (source ``marketplace``, reason ``marketplace_<code>``, entity
  ``eligibility:<case_id>``); 401/403 fail the task and dead-letter nothing (no grant's fault).
"""

from __future__ import annotations

import json
from dataclasses import asdict, field, make_dataclass
from typing import TYPE_CHECKING, Any

from credsync.hooks.transport import AccessDenied, ServiceUnavailable
from credsync.marketplace import ledger
from credsync.marketplace.events import EventsIncomplete, FaultHook
from credsync.marketplace.profile import MarketplaceProfile
from credsync.marketplace.webhooks_apply import DELETED_REASON, deleted_members

if TYPE_CHECKING:
    import psycopg

    from credsync.hooks.marketplace import MarketplaceClient, WriteOutcome

# New or changed grants, as the marketplace receives them; the hash is of jsonb's canonical text.
RECORD_SQL = """
WITH fresh AS (
    SELECT e.tenant_id, e.case_id, e.employee_id, e.eligible_for, e.updated_at,
           jsonb_build_object('eligible_for', e.eligible_for, 'rule_id', e.rule_id,
                              'rule_version', e.rule_version,
                              'granted_at', to_char(e.granted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                              'review_state', e.review_state) AS body
    FROM core.career_eligibility e
    LEFT JOIN core.marketplace_eligibility m USING (tenant_id, case_id)
    WHERE e.tenant_id = %(tenant_id)s AND (m.case_id IS NULL OR e.updated_at > m.source_updated_at)
)
INSERT INTO core.marketplace_eligibility AS m (tenant_id, case_id, employee_id, eligible_for, body, content_hash,
                                               idempotency_key, source_updated_at)
SELECT tenant_id, case_id, employee_id, eligible_for, body, md5(body::text),
       'eligibility-' || case_id || '-' || left(md5(body::text), 16), updated_at
FROM fresh
ON CONFLICT (tenant_id, case_id) DO UPDATE SET
    source_updated_at = EXCLUDED.source_updated_at,
    body = EXCLUDED.body,
    content_hash = EXCLUDED.content_hash,
    idempotency_key = EXCLUDED.idempotency_key,
    state = CASE WHEN m.content_hash = EXCLUDED.content_hash THEN m.state ELSE 'pending' END,
    outcome = CASE WHEN m.content_hash = EXCLUDED.content_hash THEN m.outcome END,
    acknowledged_at = CASE WHEN m.content_hash = EXCLUDED.content_hash THEN m.acknowledged_at END
RETURNING (xmax = 0) AS inserted, state
"""


# A marketplace down past the retry budget ends this step as it ends the events: resent by the next try.
EligibilityIncomplete = EventsIncomplete
COUNTS = ("recorded", "changed", "sent", "acknowledged", "replayed", "dead", "unmapped", "remaining")
# One run's counts: recorded (new grants), changed (to resend), sent (requests), acknowledged, replayed
# (answers the marketplace replayed: a resend of a lost answer), dead, unmapped (no member id), remaining.
EligibilityResult = make_dataclass(
    "EligibilityResult", [("tenant_id", str), ("status", str, field(default="sent")),
                          *((name, int, field(default=0)) for name in COUNTS)],
    namespace={"as_counts": lambda self: asdict(self)})


def push_eligibility(warehouse_url: str, tenant_id: str, profile: MarketplaceProfile, client: MarketplaceClient,
                     *, pseudonym_key: bytes | None = None, fault_hook: FaultHook | None = None) -> Any:
    """Record the new or changed grants of ``tenant_id`` and send every one not yet acknowledged."""
    from credsync.warehouse import connect

    result = EligibilityResult(tenant_id)
    with connect(warehouse_url) as conn:
        ledger.lock(conn, tenant_id)
        if not conn.execute("SELECT 1 FROM core.marketplace_syncs WHERE tenant_id = %s AND status = 'completed'",
                            (tenant_id,)).fetchone():
            conn.commit()
            result.status = "no_initial_sync"  # the members are not there yet: every grant would be refused
            return result
        for inserted, state in conn.execute(RECORD_SQL, {"tenant_id": tenant_id}).fetchall():
            result.recorded += bool(inserted)
            result.changed += not inserted and state == "pending"
        work = conn.execute("SELECT case_id, employee_id, eligible_for, body, idempotency_key"
                            " FROM core.marketplace_eligibility WHERE tenant_id = %s AND state IN ('pending', 'sent')"
                            " ORDER BY created_at, case_id", (tenant_id,)).fetchall()
        conn.commit()
        try:
            members = member_ids(conn, tenant_id, profile, pseudonym_key=pseudonym_key) if work else {}
            deleted = deleted_members(conn, tenant_id)
            conn.commit()
            for number, (case_id, employee_id, eligible_for, body, key) in enumerate(work, start=1):
                member_id = members.get(employee_id)
                if member_id is None:
                    result.unmapped += 1
                    _mark(conn, tenant_id, case_id, "pending", error="no marketplace member for this worker")
                    conn.commit()
                    continue
                if member_id in deleted:  # the marketplace deleted them (webhook): nothing goes to them any more
                    _stop(conn, tenant_id, str(case_id), member_id, body, result)
                    conn.commit()
                    continue
                _send(conn, tenant_id, client, str(case_id), member_id, eligible_for, body, key, result)
                if fault_hook:
                    fault_hook("after_send", number)
        finally:
            result.remaining = conn.execute("SELECT count(*) FROM core.marketplace_eligibility WHERE tenant_id = %s"
                                            " AND state IN ('pending', 'sent')", (tenant_id,)).fetchone()[0]
            conn.commit()
    return result


def member_ids(conn: psycopg.Connection, tenant_id: str, profile: MarketplaceProfile, *,
               pseudonym_key: bytes | None = None) -> dict[str, str]:
    """employee_id -> marketplace member id, exactly as the member sync addresses the worker."""
    known = {employee: member for member, employee in conn.execute(
        "SELECT member_id, employee_id FROM core.marketplace_members WHERE tenant_id = %s", (tenant_id,))}
    built = ledger.build(conn, tenant_id, profile, pseudonym_key=pseudonym_key)
    return {**known, **{employee: member for member, employee in built.employee_of.items()}}


def _mark(conn: psycopg.Connection, tenant_id: str, case_id: str, state: str, *, member_id: str | None = None,
          outcome: str | None = None, status: int | None = None, error: str | None = None,
          attempt: bool = False) -> None:
    conn.execute(
        "UPDATE core.marketplace_eligibility SET state = %(state)s, member_id = coalesce(%(member_id)s, member_id),"
        " outcome = coalesce(%(outcome)s, outcome), last_status = coalesce(%(status)s, last_status),"
        " last_error = %(error)s,"
        " attempts = attempts + CASE WHEN %(attempt)s THEN 1 ELSE 0 END,"
        " sent_at = CASE WHEN %(attempt)s THEN now() ELSE sent_at END,"
        " acknowledged_at = CASE WHEN %(state)s = 'acknowledged' THEN now() ELSE acknowledged_at END"
        " WHERE tenant_id = %(tenant_id)s AND case_id = %(case_id)s",
        {"state": state, "attempt": attempt, "member_id": member_id, "outcome": outcome, "status": status,
         "error": error, "tenant_id": tenant_id, "case_id": case_id})


def _stop(conn: psycopg.Connection, tenant_id: str, case_id: str, member_id: str, body: dict[str, Any],
          result: Any) -> None:
    _mark(conn, tenant_id, case_id, "dead", member_id=member_id, outcome="member_deleted",
          error="the marketplace deleted this member")
    ledger.dead_letter_refusal(conn, tenant_id, f"eligibility:{case_id}", DELETED_REASON, {"member_id": member_id},
                               {"eligibility": body, "member_id": member_id})
    result.dead += 1


def _send(conn: psycopg.Connection, tenant_id: str, client: MarketplaceClient, case_id: str, member_id: str,
          eligible_for: str, body: dict[str, Any], key: str, result: Any) -> None:
    from requests.utils import quote

    _mark(conn, tenant_id, case_id, "sent", member_id=member_id, attempt=True)
    conn.commit()
    result.sent += 1
    path = f"/v1/members/{quote(member_id, safe='')}/eligibility/{quote(eligible_for, safe='')}"
    data = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    try:
        # The hook's idempotent write (retries, token, 401/403 -> AccessDenied): no HTTP code here.
        outcome = client._write("PUT", path, data=data, key=key)
    except (AccessDenied, ServiceUnavailable) as exc:
        _mark(conn, tenant_id, case_id, "sent", status=exc.status, error=str(exc)[:1000])
        conn.commit()
        if isinstance(exc, AccessDenied):
            raise
        raise EligibilityIncomplete(f"tenant {tenant_id}: the marketplace is unavailable; eligibility not "
                                    f"acknowledged is resent under the same key by the next try "
                                    f"(docs/runbook.md): {exc}") from exc
    _answer(conn, tenant_id, case_id, member_id, body, outcome, result)
    conn.commit()


def _answer(conn: psycopg.Connection, tenant_id: str, case_id: str, member_id: str, body: dict[str, Any],
            outcome: WriteOutcome, result: Any) -> None:
    if outcome.accepted:
        _mark(conn, tenant_id, case_id, "acknowledged", status=outcome.status,
              outcome="created" if outcome.status == 201 else "replaced")
        result.acknowledged += 1
        result.replayed += outcome.replayed
        return
    _mark(conn, tenant_id, case_id, "dead", outcome=outcome.code or str(outcome.status), status=outcome.status,
          error=str(outcome.body)[:1000])
    ledger.dead_letter_refusal(conn, tenant_id, f"eligibility:{case_id}",
                               ledger.refusal_reason(outcome.status, outcome.code),
                               {"status": outcome.status, "answer": outcome.body, "member_id": member_id},
                               {"eligibility": body, "member_id": member_id})
    result.dead += 1

