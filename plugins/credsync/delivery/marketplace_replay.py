"""Replay of the marketplace's dead letters (source ``marketplace``) through the same idempotent paths.

In ``credsync.delivery`` beside the other sources' replay: the marketplace package builds the records and
sends them, this module only decides per letter (so the marketplace never imports the delivery layer).

Selected and closed like every other source (credsync.delivery.replay: ``select_dead_letters``,
the letter's outcome recorded and chained), per entity key:

- ``event:<id>``: the event is sent again under its own id, with its body as recorded (the signature
  is new; a marketplace that stored it answers ``duplicate``); accepted -> acknowledged.
- ``member:<id>``: the member is rebuilt from today's warehouse data (a fixed email goes out fixed)
  and PUT whole under a key of its content.
- ``learning_records:<member>/<course>``, ``badges:<member>/<badge>``, ``members:<id>`` (reconciliation
  flags): the member is PUT whole again. Not done automatically because a PUT replaces the profile,
  changes made in the marketplace included: a person decides, replaying the letter is the decision.
- ``bulk:<sync id>``: the refused import is left failed; the next run exports a new file.
- ``eligibility:<case id>``: the refused grant goes back to ``pending`` in
  ``core.marketplace_eligibility``; the next ``eligibility`` task PUTs it under its own key (a new
  refusal is a new letter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from credsync.delivery.replay import ReplayResult, _close, select_dead_letters
from credsync.marketplace import ledger
from credsync.marketplace.mapping import content_hash, to_json
from credsync.marketplace.profile import MarketplaceProfile

if TYPE_CHECKING:
    import psycopg

    from credsync.hooks.marketplace import MarketplaceClient


def replay_marketplace_letters(warehouse_url: str, tenant_id: str, profile: MarketplaceProfile,
                               events_client: MarketplaceClient, members_client: MarketplaceClient, *,
                               reason: str | None = None, max_records: int = 100, dry_run: bool = True,
                               pseudonym_key: bytes | None = None) -> ReplayResult:
    from credsync.warehouse import connect

    result = ReplayResult(tenant_id, dry_run)
    with connect(warehouse_url) as conn:
        letters = select_dead_letters(conn, tenant_id, source=ledger.DEAD_LETTER_SOURCE, reason=reason,
                                      max_records=max_records)
        conn.commit()
        result.selected = len(letters)
        if dry_run:
            result.would_replay = [f"{d.source}/{d.entity_key} ({d.reason})" for d in letters]
            return result
        ledger.lock(conn, tenant_id)
        built = None
        for letter in letters:
            kind, _, key = letter.entity_key.partition(":")
            if kind == "event":
                ok, outcome = _replay_event(conn, tenant_id, key, events_client)
            elif kind == "bulk":
                ok, outcome = True, "the next run exports and imports a new file"
            elif kind == "eligibility":
                ok, outcome = _requeue_eligibility(conn, tenant_id, key)
            else:
                if built is None:
                    built = ledger.build(conn, tenant_id, profile, pseudonym_key=pseudonym_key)
                member_id = key.split("/", 1)[0]
                ok, outcome = _replay_member(conn, tenant_id, member_id, built, members_client)
            _close(conn, tenant_id, letter, ok, outcome, result)
        ledger.audit_tokens(conn, tenant_id, "replay", events_client, members_client)
        conn.commit()
    return result


def _replay_event(conn: psycopg.Connection, tenant_id: str, event_id: str,
                  client: MarketplaceClient) -> tuple[bool, str]:
    from credsync.marketplace.events import EventsResult, _answer

    row = conn.execute("SELECT body, state FROM core.marketplace_events WHERE tenant_id = %s AND event_id = %s",
                       (tenant_id, event_id)).fetchone()
    if row is None:
        return False, "no event with this id in core.marketplace_events"
    body, state = row
    if state == "acknowledged":
        return True, "already acknowledged"
    outcome = client.post_event(body)
    counts = EventsResult(tenant_id)
    _answer(conn, tenant_id, event_id, body, outcome, counts)
    if counts.acknowledged:
        return True, f"acknowledged ({outcome.status} {'duplicate' if counts.duplicates else 'accepted'})"
    return False, f"still refused: {outcome.status} {outcome.code or ''}".rstrip()


def _replay_member(conn: psycopg.Connection, tenant_id: str, member_id: str, built: Any,
                   client: MarketplaceClient) -> tuple[bool, str]:
    from credsync.marketplace.events import put_member

    member = next((to_json(m) for m in built.members if m["member_id"] == member_id), None)
    if member is None:
        refused = [r for r in built.refused if built.employee_of.get(member_id) == r.employee_id]
        return False, f"still failing: not mappable ({refused[0].rule})" if refused else \
            "no such member in today's warehouse data"
    digest = content_hash(member)
    if put_member(conn, tenant_id, client, member, digest, built.employee_of[member_id], salt="replay"):
        return True, f"member PUT again (content {digest[:12]})"
    return False, "still refused by the marketplace (a new letter has its answer)"


def _requeue_eligibility(conn: psycopg.Connection, tenant_id: str, case_id: str) -> tuple[bool, str]:
    requeued = conn.execute(
        "UPDATE core.marketplace_eligibility SET state = 'pending' WHERE tenant_id = %s AND case_id::text = %s"
        " AND state = 'dead'", (tenant_id, case_id)).rowcount
    if requeued:
        return True, "pending again: the next marketplace_sync eligibility task resends it"
    return False, "no dead grant with this case id in core.marketplace_eligibility"
