"""Registry push against the real registry sandbox, with its fault switches on."""

from __future__ import annotations

from collections import Counter

import psycopg
import pytest

from credsync.delivery.push import push_submissions
from credsync.warehouse import connect
from tests.integration.delivery.conftest import TEST_SETTINGS
from tests.integration.delivery.helpers import admin, seed_credentials

FAULTS = {
    "error_rate": 0.1, "error_status": 503,
    "burst_429": {"every": 15, "length": 3, "retry_after": 1},
    "hang_rate": 0.03, "hang_seconds": 1.5,
    "reset_rate": 0.05, "seed": 7,
}


class SimulatedCrash(RuntimeError):
    """Stands in for a worker killed mid-batch."""


def _registry_listing(client, tenant: str) -> list[dict]:
    return list(client.list_certificates(tenant))


def _states(url: str, tenant: str) -> Counter:
    with connect(url) as conn:
        return Counter(dict(conn.execute(
            "SELECT state, count(*) FROM core.registry_submissions WHERE tenant_id = %s GROUP BY state",
            (tenant,)).fetchall()))


@pytest.mark.slow
def test_push_under_faults_registers_every_credential_exactly_once(
        fresh_warehouse_url, registry_url, registry_client):
    # 2,000 here for speed; plugins/credsync/bench/registry_bench.py pushes 10,000+.
    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 2000)
        # One the registry must refuse (expiry before issue) and one we cannot map (no worker row).
        seed_credentials(conn, "acme", 1, start=2001, issued="2026-05-01", expires="2026-04-01")
        conn.execute("DELETE FROM core.workers WHERE employee_id = 'E002000'")
        conn.commit()
    admin(registry_url, "PUT", "/admin/faults", FAULTS)

    result = push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS)

    admin(registry_url, "DELETE", "/admin/faults")
    listing = _registry_listing(registry_client, "acme")
    keys = Counter((c["learner_id"], c["credential_type"], c["credential_version"]) for c in listing)
    assert len(listing) == 1999
    assert max(keys.values()) == 1, "the registry holds a duplicate"
    assert _states(fresh_warehouse_url, "acme") == Counter({"acknowledged": 1999, "dead": 2})
    assert result.acknowledged == 1999 and result.dead == 2 and result.remaining == 0
    with connect(fresh_warehouse_url) as conn:
        letters = dict(conn.execute(
            "SELECT reason, detail::text FROM audit.dead_letters WHERE tenant_id = 'acme'").fetchall())
        faulted = conn.execute(
            "SELECT count(*) FROM core.registry_attempts WHERE outcome IN"
            " ('server_error', 'throttled', 'timeout', 'connection_error')").fetchone()[0]
        unacked_registry_ids = conn.execute(
            "SELECT count(*) FROM core.registry_submissions WHERE state = 'acknowledged'"
            " AND registry_id IS NULL").fetchone()[0]
    assert set(letters) == {"mapping_invalid", "registry_rejected_422"}
    assert "expires_on" in letters["registry_rejected_422"], "the dead letter keeps the registry's answer"
    assert faulted > 0, "the faults were not exercised"
    assert unacked_registry_ids == 0
    ids = {c["id"] for c in listing}
    with connect(fresh_warehouse_url) as conn:
        stored = {r[0] for r in conn.execute(
            "SELECT registry_id FROM core.registry_submissions WHERE state = 'acknowledged'")}
    assert stored == ids


def test_push_killed_mid_batch_then_rerun_reaches_the_same_end_state(
        fresh_warehouse_url, registry_url, registry_client):
    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 450)

    def crash_after_two_batches(stage: str, sent: int) -> None:
        if stage == "after_send" and sent >= 200:
            raise SimulatedCrash(f"killed after {sent} items were sent")

    with pytest.raises(SimulatedCrash):
        push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS,
                         fault_hook=crash_after_two_batches)
    assert _states(fresh_warehouse_url, "acme")["sent"] == 100, "the in-flight batch stays 'sent'"

    rerun = push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS)

    listing = _registry_listing(registry_client, "acme")
    assert len(listing) == 450
    assert len({(c["learner_id"], c["credential_version"]) for c in listing}) == 450
    assert _states(fresh_warehouse_url, "acme") == Counter({"acknowledged": 450})
    assert rerun.acknowledged == 350 and rerun.enqueued == 0
    stats = admin(registry_url, "GET", "/admin/stats")
    assert stats["certificates"]["total"] == 450


def test_second_push_sends_nothing(fresh_warehouse_url, registry_url, registry_client):
    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 30)
    first = push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS)
    second = push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS)
    assert first.acknowledged == 30 and first.requests == 1
    assert second.as_counts() | {"tenant_id": "acme"} == {
        "tenant_id": "acme", "enqueued": 0, "sent": 0, "acknowledged": 0, "dead": 0, "remaining": 0,
        "requests": 0}


def test_revoked_credential_is_revoked_in_the_registry(fresh_warehouse_url, registry_url, registry_client):
    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 3)
    push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS)
    with connect(fresh_warehouse_url) as conn:
        conn.execute("UPDATE core.credentials SET status = 'revoked', status_reason = 'issued in error'"
                     " WHERE employee_id = 'E000002'")
        conn.commit()

    result = push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS)

    by_learner = {c["learner_id"]: c for c in _registry_listing(registry_client, "acme")}
    assert by_learner["E000002"]["status"] == "revoked"
    assert by_learner["E000002"]["revocation_reason"] == "issued in error"
    assert by_learner["E000001"]["status"] == "active"
    assert result.enqueued == 1 and result.acknowledged == 1


def test_acknowledged_submission_cannot_move_backwards(fresh_warehouse_url, registry_url, registry_client):
    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 1)
    push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS)
    with connect(fresh_warehouse_url) as conn, pytest.raises(psycopg.errors.CheckViolation, match="may not move"):
        conn.execute("UPDATE core.registry_submissions SET state = 'sent'")


def test_idempotency_key_in_sql_matches_python(fresh_warehouse_url, registry_url):
    from credsync.delivery.payload import idempotency_key
    from credsync.delivery.submissions import enqueue

    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 1)
        enqueue(conn, "acme")
        credential_id, version, key = conn.execute(
            "SELECT credential_id::text, version, idempotency_key FROM core.registry_submissions").fetchone()
    assert key == idempotency_key(credential_id, version, "issue")


def test_wrong_client_secret_fails_the_push_without_dead_lettering(fresh_warehouse_url, registry_target):
    from credsync.hooks.registry import RegistryAccessDenied
    from tests.integration.delivery.conftest import registry_client_for

    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 5)
    wrong = registry_client_for(registry_target, secret="nope")

    with pytest.raises(RegistryAccessDenied, match=r"token request .* failed with 401"):
        push_submissions(fresh_warehouse_url, "acme", wrong, settings=TEST_SETTINGS)

    with connect(fresh_warehouse_url) as conn:
        letters = conn.execute("SELECT count(*) FROM audit.dead_letters").fetchone()[0]
    assert letters == 0 and _states(fresh_warehouse_url, "acme") == Counter({"sent": 5})


def test_two_pushes_of_one_tenant_at_once_acknowledge_each_credential_once(
        fresh_warehouse_url, registry_url, registry_client, registry_target):
    from concurrent.futures import ThreadPoolExecutor

    from tests.integration.delivery.conftest import registry_client_for

    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 300)
    clients = [registry_client, registry_client_for(registry_target)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(
            lambda c: push_submissions(fresh_warehouse_url, "acme", c, settings=TEST_SETTINGS), clients))

    assert sorted(r.acknowledged for r in results) == [0, 300]
    assert len(_registry_listing(registry_client, "acme")) == 300
    with connect(fresh_warehouse_url) as conn:
        events = conn.execute(
            "SELECT count(*) FROM audit.events WHERE event_type = 'registry.acknowledged'").fetchone()[0]
    assert events == 300
