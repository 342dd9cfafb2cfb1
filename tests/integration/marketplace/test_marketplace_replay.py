"""dlq_replay's replay (credsync.delivery.replay) sees the marketplace's dead letters.

Real Postgres and the marketplace sandbox over loopback HTTP; the hook is the real MarketplaceHook on a
Connection given the documented way (AIRFLOW_CONN_*), built only for a tenant that has marketplace letters.
"""

from __future__ import annotations

import json
import uuid

from credsync.delivery.replay import SOURCES, replay_dead_letters
from credsync.warehouse import connect
from sandbox.launcher import SandboxSet, marketplace_client_id
from tests.integration.marketplace import test_marketplace_sync as sync
from tests.integration.marketplace.test_marketplace_sync import KEY, client, events, seed, state, sync_all
from tests.unit.hooks.loopback import set_connection

# The sync tests' fixtures: one marketplace sandbox per module, reset per test, a migrated database per test.
marketplace, market, warehouse = sync.marketplace, sync.market, sync.warehouse


def _dead_event(url: str) -> str:
    """A badge for a member the marketplace does not know: the events push dead-letters it (404)."""
    event_id = str(uuid.uuid4())
    body = {"event_id": event_id, "type": "badge_awarded", "member_id": "LATE1", "occurred_at": "2026-03-01T00:00:00Z",
            "data": {"badge_id": "b-1", "name": "CPR & AED", "issued_at": "2026-03-01T00:00:00Z",
                     "issuer": "credsync-training", "credential_url": "https://credentials.acme.example/credentials/b-1"}}
    with connect(url) as conn:
        conn.execute("INSERT INTO core.marketplace_events (tenant_id, event_id, event_type, member_id, item_key, body)"
                     " VALUES ('acme', %s, 'badge_awarded', 'LATE1', 'b-1', %s)", (event_id, json.dumps(body)))
        conn.commit()
    return event_id


def _letter(url: str, key: str) -> tuple:
    with connect(url) as conn:
        return conn.execute("SELECT source, reason, status, replay_outcome FROM audit.dead_letters"
                            " WHERE entity_key = %s", (key,)).fetchone()


def test_dlq_replay_all_replays_a_marketplace_event_once_the_member_exists(
        warehouse: str, market: SandboxSet, tmp_path, monkeypatch) -> None:
    assert "marketplace" in SOURCES
    seed(warehouse, workers=2)
    sync_all(warehouse, market, tmp_path)
    event_id = _dead_event(warehouse)
    assert events(warehouse, market).dead == 1
    key = f"event:{event_id}"
    entry = json.loads(market.env["SANDBOX_MARKETPLACE_CLIENTS"])[marketplace_client_id("acme")]
    set_connection(monkeypatch, "marketplace_acme", host=market.url("marketplace"), login=marketplace_client_id("acme"),
                   password=entry["secret"], extra={"signing_secret": entry["signing_secret"]})

    dry = replay_dead_letters(warehouse, "acme", source="all", dry_run=True)
    assert dry.selected == 1 and dry.would_replay == [f"marketplace/{key} (marketplace_not_found)"]

    unfixed = replay_dead_letters(warehouse, "acme", source="marketplace", dry_run=False, pseudonym_key=KEY)
    assert (unfixed.replayed, unfixed.still_failing) == (0, 1)
    assert _letter(warehouse, key)[2] == "open", "still refused: the letter stays open"

    assert client(market, "members").put_member({"member_id": "LATE1", "email": "late1@acme.example"}, "late1").accepted
    fixed = replay_dead_letters(warehouse, "acme", source="all", reason="marketplace_%", dry_run=False,
                                pseudonym_key=KEY)
    again = replay_dead_letters(warehouse, "acme", source="all", dry_run=False, pseudonym_key=KEY)

    assert (fixed.selected, fixed.replayed, fixed.still_failing) == (1, 1, 0) and again.selected == 0
    source, reason, status, outcome = _letter(warehouse, key)
    assert (source, reason, status) == ("marketplace", "marketplace_not_found", "replayed")
    assert outcome.startswith("acknowledged (")
    assert [b["badge_id"] for b in state(market)["badges"] if b["member_id"] == "LATE1"] == ["b-1"], "applied once"
    with connect(warehouse) as conn:
        assert conn.execute("SELECT state FROM core.marketplace_events WHERE event_id = %s",
                            (event_id,)).fetchone()[0] == "acknowledged"
        chained = conn.execute("SELECT count(*) FROM audit.events WHERE event_type = 'dead_letter.replayed'"
                               " AND entity_type = 'marketplace'").fetchone()[0]
    assert chained == 2, "each replay outcome is chained into the audit log"


def test_a_tenant_without_marketplace_letters_needs_no_marketplace_connection(warehouse: str, monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_MARKETPLACE_GLOBEX", raising=False)
    result = replay_dead_letters(warehouse, "globex", source="all", dry_run=False)
    assert (result.selected, result.replayed, result.still_failing) == (0, 0, 0)
