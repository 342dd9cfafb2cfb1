"""Member webhooks back from the marketplace: the sandbox's own sender signs and delivers, credsync's receiver
runs for real (uvicorn on loopback) on real Postgres, and the next events task applies what was recorded.

Acceptance (issue 17): member.updated / member.deleted consumed the way HRIS webhooks are (one signed
receiver, the tenant's Connection secret, a seen event id a no-op); an updated field the mapping owns is
drift flagged for review, never written into HR data; a deleted member's events stop, dead-lettered with a
reason; hostile deliveries refused with their status and a logged reason, never a 500.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from credsync.ingest.signed_webhooks import MAX_BODY_BYTES
from credsync.marketplace.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, MarketplaceWebhookReceiver
from credsync.marketplace.webhooks_app import connection_secret, create_app
from credsync.warehouse import connect
from sandbox.launcher import SandboxSet
from sandbox.marketplace.signing import sign
from tests.integration.marketplace import test_marketplace_sync as sync
from tests.integration.marketplace.test_marketplace_sync import T0, add_completion, events, seed, state, sync_all
from tests.integration.people.test_hris_webhooks import serve
from tests.unit.hooks.loopback import set_connection

# The sync tests' fixtures: one marketplace sandbox per module, reset per test, a migrated database per test.
marketplace, market, warehouse = sync.marketplace, sync.market, sync.warehouse
HTTP = httpx.Client(timeout=10)


def _secret(running: SandboxSet, tenant: str = "acme") -> str:
    return json.loads(running.env["SANDBOX_MARKETPLACE_WEBHOOK_SECRETS"])[tenant]


@pytest.fixture
def receiver_url(warehouse: str, market: SandboxSet, monkeypatch) -> Any:
    """credsync's receiver as the api-server builds it: the secret from Connection marketplace_acme."""
    set_connection(monkeypatch, "marketplace_acme", host=market.url("marketplace"), login="mkt-acme",
                   password="unused-here", extra={"webhook_secret": _secret(market)})
    monkeypatch.delenv("AIRFLOW_CONN_MARKETPLACE_GLOBEX", raising=False)  # globex: no secret, so no webhooks
    with serve(create_app(MarketplaceWebhookReceiver(warehouse, secret_for=connection_secret))) as url:
        yield url


def _stored(url: str) -> list[tuple]:
    with connect(url) as conn:
        return conn.execute("SELECT event_type, member_id, deliveries, applied_at IS NOT NULL FROM"
                            " core.marketplace_webhook_events ORDER BY received_at").fetchall()


def _wait_delivered(running: SandboxSet, count: int) -> list[dict]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        got = [d for d in state(running)["webhook_deliveries"] if d["outcome"] == "delivered"]
        if len(got) >= count:
            return got
        time.sleep(0.1)
    raise AssertionError(f"the marketplace delivered {state(running)['webhook_deliveries']}")


def _post(url: str, tenant: str, body: bytes, secret: str, *, at: int | None = None,
          headers: dict[str, str] | None = None) -> httpx.Response:
    stamp = int(time.time()) if at is None else at
    signed = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(stamp),
              SIGNATURE_HEADER: sign(secret, stamp, body)}
    return HTTP.post(f"{url}/marketplace/{tenant}/webhooks", content=body, headers={**signed, **(headers or {})})


def test_member_changes_are_received_once_and_applied_by_the_next_events_run(
        warehouse: str, market: SandboxSet, receiver_url: str, tmp_path) -> None:
    seed(warehouse, workers=2)
    assert sync_all(warehouse, market, tmp_path).status == "completed"
    with connect(warehouse) as conn:
        members = dict(conn.execute("SELECT employee_id, member_id FROM core.marketplace_members"
                                    " WHERE tenant_id = 'acme'").fetchall())
        hr_before = conn.execute("SELECT employee_id, work_email FROM core.workers ORDER BY 1").fetchall()
    edited, removed = members["E000"], members["E001"]
    admin = market.admin("marketplace")
    assert HTTP.post(f"{admin}/webhooks", json={"url": f"{receiver_url}/marketplace/acme/webhooks",
                                                "tenant": "acme"}).status_code == 200

    # Made in the marketplace itself: a field only the marketplace has (its own: no drift), then an email
    # (a field the mapping owns: drift), and a deletion. The sandbox signs and sends each as a webhook.
    assert HTTP.post(f"{admin}/tenants/acme/members/{edited}", json={"headline": "Charge nurse"}).is_success
    assert HTTP.post(f"{admin}/tenants/acme/members/{edited}", json={"email": "ann@elsewhere.example"}).is_success
    assert HTTP.delete(f"{admin}/tenants/acme/members/{removed}").is_success
    delivered = _wait_delivered(market, 3)
    assert {d["status"] for d in delivered} == {202}
    assert [r[:3] for r in _stored(warehouse)] == [("member.updated", edited, 1), ("member.updated", edited, 1),
                                                   ("member.deleted", removed, 1)]

    # The same event again (a sender's retry after a lost answer): answered 200, recorded once.
    with connect(warehouse) as conn:
        body = conn.execute("SELECT body FROM core.marketplace_webhook_events WHERE event_type = 'member.deleted'"
                            ).fetchone()[0]
    again = _post(receiver_url, "acme", json.dumps(body).encode(), _secret(market))
    assert (again.status_code, again.json()["status"]) == (200, "already_processed")
    assert _stored(warehouse)[2][2] == 2 and not any(r[3] for r in _stored(warehouse)), "nothing applied yet"

    # A new completion for the deleted member: its event must not go out.
    with connect(warehouse) as conn:
        add_completion(conn, "acme", "E001", "BLS-201", T0 + timedelta(days=1), 88)
        conn.commit()
    first = events(warehouse, market)
    second = events(warehouse, market)

    assert (first.webhooks_applied, first.webhook_flags) == (3, 1)
    assert (second.webhooks_applied, second.webhook_flags) == (0, 0), "each webhook is applied once"
    assert all(r[3] for r in _stored(warehouse))
    with connect(warehouse) as conn:
        letters = conn.execute("SELECT entity_key, reason, detail FROM audit.dead_letters WHERE tenant_id = 'acme'"
                               " AND source = 'marketplace' AND status = 'open' ORDER BY reason").fetchall()
        hr_after = conn.execute("SELECT employee_id, work_email FROM core.workers ORDER BY 1").fetchall()
        stopped = conn.execute("SELECT state, outcome FROM core.marketplace_events WHERE member_id = %s"
                               " AND item_key = 'BLS-201'", (removed,)).fetchall()
        review = conn.execute("SELECT reason, open_letters FROM recon.marketplace_review"
                              " WHERE tenant_id = 'acme' ORDER BY reason").fetchall()
    assert hr_after == hr_before, "HR data is never overwritten from the marketplace"
    drift = [(k, d) for k, r, d in letters if r == "marketplace_webhook_drift"]
    assert drift == [(f"members:{edited}", {"event_id": drift[0][1]["event_id"], "fields": ["email"]})]
    assert [r for _k, r, _d in letters if r == "marketplace_member_deleted"] == ["marketplace_member_deleted"]
    assert stopped == [("dead", "marketplace_member_deleted")]
    assert ("marketplace_webhook_drift", 1) in review and ("marketplace_member_deleted", 1) in review
    market_state = state(market)
    assert not [r for r in market_state["learning_records"] if r.get("course_id") == "BLS-201"], "nothing sent"
    flags = {m["member_id"]: m["deleted"] for m in market_state["members"] if m["tenant"] == "acme"}
    assert flags[removed] == 1, "the deleted member is not PUT back"
    emails = {m["member_id"]: m.get("email") for m in market_state["members"] if m["tenant"] == "acme"}
    assert flags[edited] == 0 and emails[edited] == "ann@elsewhere.example", "left for the reviewer, not PUT over"


def test_hostile_deliveries_are_refused_with_their_reason_and_logged(
        warehouse: str, market: SandboxSet, receiver_url: str, caplog) -> None:
    secret = _secret(market)
    caplog.set_level(logging.WARNING, logger="credsync.marketplace.webhooks")

    def event(**changes: Any) -> bytes:
        body = {"event_id": str(uuid.uuid4()), "type": "member.updated", "member_id": "M1",
                "occurred_at": "2026-03-01T08:00:00Z", "data": {"email": "a@b.example"}, **changes}
        return json.dumps(body).encode()

    ok = event()
    cases = {
        "bad signature": (_post(receiver_url, "acme", ok, "not-the-secret"), 401, "bad_signature"),
        "no signature": (HTTP.post(f"{receiver_url}/marketplace/acme/webhooks", content=ok), 401, "bad_signature"),
        "stale": (_post(receiver_url, "acme", ok, secret, at=int(time.time()) - 301), 400, "stale_timestamp"),
        "oversize": (_post(receiver_url, "acme", event(data={"x": "y" * MAX_BODY_BYTES}), secret), 413, "too_large"),
        "NUL": (_post(receiver_url, "acme", event(member_id="M\u00001"), secret), 400, "malformed"),
        "unknown type": (_post(receiver_url, "acme", event(type="member.merged"), secret), 400, "malformed"),
        "not JSON": (_post(receiver_url, "acme", b"\xff\xfe{", secret), 400, "malformed"),
        "unknown tenant": (_post(receiver_url, "initech", ok, secret), 404, "unknown_tenant"),
        "tenant without a secret": (_post(receiver_url, "globex", ok, secret), 404, "unknown_tenant"),
        "not a tenant id": (_post(receiver_url, "ACME!", ok, secret), 404, "unknown_tenant"),
    }
    for name, (answer, status, reason) in cases.items():
        assert (answer.status_code, answer.json()["reason"]) == (status, reason), name
    assert _stored(warehouse) == [], "nothing refused is recorded"

    first = _post(receiver_url, "acme", ok, secret)
    changed = json.loads(ok)
    changed["data"] = {"email": "other@b.example"}
    reused = _post(receiver_url, "acme", json.dumps(changed).encode(), secret)
    assert first.status_code == 202
    assert (reused.status_code, reused.json()["reason"]) == (409, "replayed_with_different_body")
    logged = " ".join(r.getMessage() for r in caplog.records)
    for reason in ("bad_signature", "stale_timestamp", "too_large", "malformed", "unknown_tenant",
                   "replayed_with_different_body"):
        assert f"marketplace webhook refused ({reason})" in logged, reason
    assert secret not in logged and secret not in caplog.text
