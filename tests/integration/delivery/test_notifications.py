"""Registry notifications both ways, on real HTTP loopback, a real Postgres and the real registry sandbox.

Out: every issuance and revocation notification is delivered exactly once under faults, or
dead-lettered with a reason; a rerun sends nothing. In: the registry's signed acknowledgement or
rejection is recorded once; a forged, stale or altered one is refused.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
import requests

from credsync.delivery.notifications import NotificationBatchBlocked, send_notifications
from credsync.delivery.notifications_app import create_app
from credsync.delivery.notifications_receiver import SIGNATURE_HEADER as REGISTRY_SIGNATURE_HEADER
from credsync.delivery.notifications_receiver import RegistryNotificationReceiver
from credsync.delivery.push import push_submissions
from credsync.hooks.notifications import SIGNATURE_HEADER, NotificationClient
from credsync.hooks.transport import ServiceUnavailable
from credsync.ingest.signed_webhooks import sign
from credsync.warehouse import connect
from tests.integration.delivery.conftest import TEST_SETTINGS, registry_client_for
from tests.integration.delivery.helpers import admin, seed_credentials
from tests.integration.people.test_hris_webhooks import serve

pytestmark = pytest.mark.slow

# Only the notification path is faulted: the pushes before are not what is under test.
FAULTS = {
    "error_rate": 0.12, "error_status": 503,
    "burst_429": {"every": 23, "length": 2, "retry_after": 1},
    "hang_rate": 0.03, "hang_seconds": 1.5,  # past the 0.6 s read timeout: a lost answer
    "reset_rate": 0.12,  # processed, then the answer is cut: the case event-id dedupe is for
    "seed": 11, "paths": ["/v1/notifications"],
}


class SimulatedCrash(RuntimeError):
    """Stands in for a worker killed between an answer and its record."""


def notification_client(registry_sandbox, registry_target, secret: str | None = None) -> NotificationClient:
    secret = secret or registry_sandbox.env["SANDBOX_REGISTRY_NOTIFICATION_SECRET"]
    return NotificationClient(registry_client_for(registry_target).http, secret)


def inbox(registry_url: str) -> list[dict]:
    return admin(registry_url, "GET", "/admin/notifications")["data"]


def send_until_done(url: str, tenant: str, client: NotificationClient, runs: int = 6):
    """What Airflow's task retries do: run again after the registry stayed unavailable."""
    for _ in range(runs):
        try:
            return send_notifications(url, tenant, client, settings=TEST_SETTINGS)
        except ServiceUnavailable:
            continue
    raise AssertionError(f"notifications still unavailable after {runs} runs")


def issue_and_revoke(url: str, registry_client, tenant: str, count: int, revoked: int) -> None:
    with connect(url) as conn:
        seed_credentials(conn, tenant, count)
    assert push_submissions(url, tenant, registry_client, settings=TEST_SETTINGS).acknowledged == count
    with connect(url) as conn:
        conn.execute("UPDATE core.credentials SET status = 'revoked', status_reason = 'left the company'"
                     " WHERE tenant_id = %s AND employee_id <= %s", (tenant, f"E{revoked:06d}"))
        conn.commit()
    assert push_submissions(url, tenant, registry_client, settings=TEST_SETTINGS).acknowledged == revoked


def registry_ids(url: str, tenant: str, employee_ids: list[str]) -> list[str]:
    with connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT s.registry_id FROM core.registry_submissions s JOIN core.credentials c USING (credential_id)"
            " WHERE s.tenant_id = %s AND s.operation = 'issue' AND c.employee_id = ANY(%s)",
            (tenant, employee_ids))]


def test_every_notification_delivered_once_under_faults_or_dead_lettered(
        fresh_warehouse_url, registry_sandbox, registry_url, registry_target, registry_client):
    url = fresh_warehouse_url
    issue_and_revoke(url, registry_client, "acme", 80, 20)
    # Two certificates the registry lost after the push: their issuance notifications are refused for good.
    lost = registry_ids(url, "acme", ["E000079", "E000080"])
    for certificate_id in lost:
        requests.delete(f"{registry_url}/admin/certificates/{certificate_id}", timeout=5).raise_for_status()
    admin(registry_url, "PUT", "/admin/faults", FAULTS)

    result = send_until_done(url, "acme", notification_client(registry_sandbox, registry_target))

    admin(registry_url, "DELETE", "/admin/faults")
    listing = inbox(registry_url)
    with connect(url) as conn:
        states = Counter(dict(conn.execute(
            "SELECT state, count(*) FROM core.registry_notifications WHERE tenant_id = 'acme' GROUP BY state")))
        delivered = {r[0] for r in conn.execute(
            "SELECT event_id FROM core.registry_notifications WHERE state = 'acknowledged'")}
        letters = conn.execute(
            "SELECT entity_key, reason, detail::text FROM audit.dead_letters"
            " WHERE source = 'registry_notification'").fetchall()
        faulted = conn.execute(
            "SELECT count(*) FROM core.registry_attempts WHERE operation LIKE 'notify_%%'"
            " AND outcome IN ('server_error', 'throttled', 'timeout', 'connection_error')").fetchone()[0]
    counts = Counter(item["event_id"] for item in listing)
    assert max(counts.values()) == 1, "the registry's inbox holds a notification twice"
    assert len(listing) == 98  # 80 issued + 20 revoked - 2 refused
    assert set(counts) == delivered
    assert Counter(item["type"] for item in listing) == {"credential.issued": 78, "credential.revoked": 20}
    assert states == Counter({"acknowledged": 98, "dead": 2})
    assert faulted > 0, "the faults were not exercised"
    assert any(item["deliveries"] > 1 for item in listing), "no answer was lost, so no re-send was deduped"
    assert {reason for _, reason, _ in letters} == {"registry_refused_422"}
    assert len(letters) == 2 and all("unknown-certificate" in detail for _, _, detail in letters)
    assert result.remaining == 0

    again = send_notifications(url, "acme", notification_client(registry_sandbox, registry_target),
                               settings=TEST_SETTINGS)
    assert (again.enqueued, again.sent, again.requests) == (0, 0, 0)
    assert inbox(registry_url) == listing, "the rerun changed the registry's inbox"


def test_killed_between_answer_and_record_then_rerun_sends_each_once(
        fresh_warehouse_url, registry_sandbox, registry_url, registry_target, registry_client):
    url = fresh_warehouse_url
    issue_and_revoke(url, registry_client, "acme", 12, 3)
    client = notification_client(registry_sandbox, registry_target)

    def crash(_where: str, sent: int) -> None:
        if sent == 5:
            raise SimulatedCrash

    with pytest.raises(SimulatedCrash):
        send_notifications(url, "acme", client, settings=TEST_SETTINGS, fault_hook=crash)
    result = send_notifications(url, "acme", client, settings=TEST_SETTINGS)

    listing = inbox(registry_url)
    assert len(listing) == 15 and len({i["event_id"] for i in listing}) == 15
    assert [i["deliveries"] for i in listing].count(2) == 1, "the crashed one is sent again, kept once"
    assert result.delivered == 11 and result.remaining == 0


def test_a_wrong_secret_fails_the_run_and_dead_letters_nothing(
        fresh_warehouse_url, registry_sandbox, registry_url, registry_target, registry_client):
    from credsync.hooks.transport import AccessDenied

    issue_and_revoke(fresh_warehouse_url, registry_client, "acme", 2, 0)
    with pytest.raises(AccessDenied):
        send_notifications(fresh_warehouse_url, "acme",
                           notification_client(registry_sandbox, registry_target, secret="not-the-secret"),
                           settings=TEST_SETTINGS)
    assert inbox(registry_url) == []
    with connect(fresh_warehouse_url) as conn:
        assert conn.execute("SELECT count(*) FROM audit.dead_letters").fetchone()[0] == 0


def test_a_blocked_batch_sends_nothing(fresh_warehouse_url, registry_sandbox, registry_url, registry_target,
                                       registry_client):
    issue_and_revoke(fresh_warehouse_url, registry_client, "acme", 3, 0)

    def refusing_gate(*_args: str) -> object:
        from credsync.quality.gate import run_gate
        # The real suite on a batch made bad on purpose: one event id staged twice.
        with connect(fresh_warehouse_url) as conn:
            conn.execute("INSERT INTO staging.registry_notifications (tenant_id, batch_id, event_id, event_type,"
                         " registry_id, occurred_at, body_bytes) SELECT tenant_id, batch_id, event_id, event_type,"
                         " registry_id, occurred_at, body_bytes FROM staging.registry_notifications"
                         " WHERE batch_id = %s::uuid LIMIT 1", (_args[2],))
            conn.commit()
        return run_gate(_args[0], suite_name="registry_notifications", table="staging.registry_notifications",
                        batch_id=_args[2], tenant_id=_args[1], key_columns=("event_id",))

    with pytest.raises(NotificationBatchBlocked, match="event_id_once_per_batch"):
        send_notifications(fresh_warehouse_url, "acme", notification_client(registry_sandbox, registry_target),
                           settings=TEST_SETTINGS, gate=refusing_gate)
    assert inbox(registry_url) == []


def test_registry_reviews_are_recorded_once_and_forged_or_replayed_ones_refused(
        fresh_warehouse_url, registry_sandbox, registry_url, registry_target, registry_client):
    url = fresh_warehouse_url
    issue_and_revoke(url, registry_client, "acme", 3, 1)
    send_notifications(url, "acme", notification_client(registry_sandbox, registry_target), settings=TEST_SETTINGS)
    secret = registry_sandbox.env["SANDBOX_REGISTRY_WEBHOOK_SECRET"]
    skew = [0.0]
    receiver = RegistryNotificationReceiver(url, secret_for=lambda t: secret if t == "acme" else None,
                                            clock=lambda: time.time() + skew[0])
    with connect(url) as conn:
        acked, rejected, _third, _revoked = (r[0] for r in conn.execute(
            "SELECT event_id FROM core.registry_notifications ORDER BY event_type, event_id"))

    with serve(create_app(receiver)) as receiver_url:
        def review(event_id: str, decision: str, **extra: str) -> dict:
            return admin(registry_url, "POST", f"/admin/notifications/{event_id}/review",
                         {"decision": decision, "callback_url": receiver_url, **extra})

        def post(body: bytes, signature: str) -> requests.Response:
            return requests.post(f"{receiver_url}/registry/acme/notifications", data=body, timeout=5,
                                 headers={"Content-Type": "application/json", REGISTRY_SIGNATURE_HEADER: signature})

        ack = review(acked, "acknowledged")
        assert ack["reply"]["status"] == 202 and ack["reply"]["body"]["status"] == "applied"
        rej = review(rejected, "rejected", reason="learner id does not match the national register")
        assert rej["reply"]["status"] == 202

        # The captured acknowledgement, sent again as it was: answered, not applied twice.
        body, signature = ack["body"].encode(), ack["signature"]
        again = post(body, signature)
        assert again.status_code == 200 and again.json()["status"] == "already_processed"
        # ... and once the window has passed, refused outright.
        skew[0] = 301
        stale = post(body, signature)
        assert stale.status_code == 400 and stale.json()["reason"] == "stale_timestamp"
        skew[0] = 0
        # Forged: altered body under the captured signature, or signed with a guessed secret.
        altered = body.replace(b"notification.acknowledged", b"notification.rejected")
        assert post(altered, signature).json()["reason"] == "bad_signature"
        forged = json.dumps({**ack["sent"], "event_id": "rv-forged"}).encode()
        assert post(forged, sign("guessed", forged, int(time.time()))).status_code == 401
        assert post(forged, "").status_code == 401
        # Correctly signed but reusing an event id with another body; or naming no notification of ours.
        reused = json.dumps({**ack["sent"], "occurred_at": "2026-01-01T00:00:00+00:00"}).encode()
        assert post(reused, sign(secret, reused, int(time.time()))).status_code == 409
        unknown = json.dumps({**ack["sent"], "event_id": "rv-x", "notification_event_id": "cs-nope"}).encode()
        assert post(unknown, sign(secret, unknown, int(time.time()))).status_code == 404
        # A later, different decision on a reviewed notification changes nothing.
        late = review(acked, "rejected", reason="changed our mind")
        assert late["reply"]["status"] == 200 and late["reply"]["body"]["status"] == "already_reviewed"

    with connect(url) as conn:
        rows = {r[0]: r[1:] for r in conn.execute(
            "SELECT event_id, review_state, registry_acked_at IS NOT NULL, registry_rejected_at IS NOT NULL,"
            " review_reason FROM core.registry_notifications")}
        letters = conn.execute("SELECT entity_key, reason, detail ->> 'reason' FROM audit.dead_letters"
                               " WHERE source = 'registry_notification'").fetchall()
        deliveries = conn.execute("SELECT deliveries FROM audit.registry_webhook_events WHERE event_id = %s",
                                  (ack["sent"]["event_id"],)).fetchone()[0]
    assert rows[acked] == ("acknowledged", True, False, None)
    assert rows[rejected] == ("rejected", False, True, "learner id does not match the national register")
    assert letters == [(rejected, "registry_rejected_review", "learner id does not match the national register")]
    assert deliveries == 2
    assert SIGNATURE_HEADER != REGISTRY_SIGNATURE_HEADER


def test_dead_lettered_notifications_replay_once_the_registry_answers_again(
        fresh_warehouse_url, registry_sandbox, registry_url, registry_target, registry_client):
    from credsync.delivery.replay import replay_dead_letters

    url = fresh_warehouse_url
    issue_and_revoke(url, registry_client, "acme", 4, 1)
    client = notification_client(registry_sandbox, registry_target)
    # A broken registry deploy answering 422 to every notification: all five are parked.
    admin(registry_url, "PUT", "/admin/faults", {"error_rate": 1.0, "error_status": 422,
                                                 "paths": ["/v1/notifications"]})
    assert send_notifications(url, "acme", client, settings=TEST_SETTINGS).dead == 5
    admin(registry_url, "DELETE", "/admin/faults")
    assert inbox(registry_url) == []

    replayed = replay_dead_letters(url, "acme", source="registry_notification", dry_run=False,
                                   notification_client=lambda: client)

    assert (replayed.selected, replayed.replayed, replayed.still_failing) == (5, 5, 0)
    assert len(inbox(registry_url)) == 5
    with connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM core.registry_notifications WHERE state = 'acknowledged'"
                            ).fetchone()[0] == 5
        assert conn.execute("SELECT count(*) FROM audit.dead_letters WHERE status = 'open'").fetchone()[0] == 0
    assert replay_dead_letters(url, "acme", source="all", dry_run=False).selected == 0
