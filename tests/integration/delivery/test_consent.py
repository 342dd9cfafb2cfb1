"""Consent (issue #19): a tenant whose registry push needs consent shares only what workers agreed to.

The real registry sandbox and the real push. Three workers with a credential each: E000001 and
E000002 grant consent, E000003 never does. The push registers two. E000002 withdraws: the next
push revokes the registry's copy (reason ``consent withdrawn``) while the credential stays active
in credsync; nothing more is sent for E000002, and every step is on the audit chain.
"""

from __future__ import annotations

import psycopg
import pytest
import yaml

import credsync.tenants
from credsync.delivery.push import push_submissions
from credsync.governance.__main__ import main as governance_cli
from credsync.governance.consent import record
from credsync.tenants import TENANTS_FILE
from credsync.warehouse import connect
from tests.integration.delivery.conftest import TEST_SETTINGS
from tests.integration.delivery.helpers import seed_credentials

PURPOSE = "registry_sharing"


@pytest.fixture
def consent_tenant(tmp_path, monkeypatch) -> None:
    raw = yaml.safe_load(TENANTS_FILE.read_text(encoding="utf-8"))
    for tenant in raw["tenants"]:
        if tenant["tenant_id"] == "acme":
            tenant["consent"] = {"registry_push": PURPOSE}
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.setattr(credsync.tenants, "TENANTS_FILE", path)


def _registry(client) -> dict[str, str]:
    return {c["learner_id"]: c["status"] for c in client.list_certificates("acme")}


def _reasons(client) -> dict[str, str | None]:
    return {c["learner_id"]: c.get("revocation_reason") for c in client.list_certificates("acme")}


def test_only_consenting_workers_are_shared_and_a_withdrawal_takes_the_registry_copy_back(
        consent_tenant, fresh_warehouse_url, registry_url, registry_client) -> None:
    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 3)
        for employee in ("E000001", "E000002"):
            record(conn, tenant_id="acme", employee_id=employee, purpose=PURPOSE, action="grant", source="form")
        conn.commit()

    first = push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS)
    assert first.acknowledged == 2
    assert _registry(registry_client) == {"E000001": "active", "E000002": "active"}

    # The CLI an operator uses, as the runbook gives it.
    assert governance_cli(["consent", "withdraw", "--tenant", "acme", "--employee", "E000002", "--purpose", PURPOSE,
                           "--source", "ticket", "--reason", "worker asked on ticket 4711",
                           "--warehouse-url", fresh_warehouse_url]) == 0
    second = push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS)
    assert _registry(registry_client) == {"E000001": "active", "E000002": "revoked"}
    assert second.acknowledged == 1  # the revoke, nothing else
    assert _reasons(registry_client)["E000002"] == "consent withdrawn"

    third = push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS)
    assert (third.enqueued, third.acknowledged) == (0, 0)
    with connect(fresh_warehouse_url) as conn:
        statuses = dict(conn.execute("SELECT employee_id, status FROM core.credentials WHERE tenant_id = 'acme'"))
        e2 = conn.execute("SELECT credential_id::text FROM core.credentials WHERE employee_id = 'E000002'"
                          ).fetchone()[0]
        events = conn.execute("SELECT event_type, entity_key FROM audit.events WHERE tenant_id = 'acme'"
                              " AND (event_type LIKE 'consent_%%' OR entity_key = %s) ORDER BY event_id",
                              (e2,)).fetchall()
    assert statuses == {"E000001": "active", "E000002": "active", "E000003": "active"}  # credentials stay valid
    kinds = [kind for kind, _ in events]
    assert kinds.count("consent_grant") == 2 and kinds.count("consent_withdraw") == 1
    # E000002's trail: shared, consent withdrawn, the registry's copy revoked.
    assert kinds[kinds.index("consent_withdraw"):] == ["consent_withdraw", "registry.revoked"]
    assert "registry.acknowledged" in kinds[:kinds.index("consent_withdraw")]


def test_an_issue_queued_before_a_withdrawal_is_withheld_not_sent(
        consent_tenant, fresh_warehouse_url, registry_url, registry_client) -> None:
    from credsync.delivery.submissions import enqueue

    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 1)
        record(conn, tenant_id="acme", employee_id="E000001", purpose=PURPOSE, action="grant", source="form")
        assert enqueue(conn, "acme") == 1  # queued while consent stood
        record(conn, tenant_id="acme", employee_id="E000001", purpose=PURPOSE, action="withdraw", source="form",
               reason="changed their mind")
        conn.commit()

    result = push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS)
    assert result.acknowledged == 0 and _registry(registry_client) == {}
    with connect(fresh_warehouse_url) as conn:
        withheld = conn.execute("SELECT count(*) FROM audit.events WHERE tenant_id = 'acme'"
                                " AND event_type = 'registry_issue_withheld'").fetchone()[0]
        left = conn.execute("SELECT count(*) FROM core.registry_submissions").fetchone()[0]
    assert (withheld, left) == (1, 0)


def test_the_ledger_is_append_only_and_a_withdrawal_needs_a_reason(fresh_warehouse_url) -> None:
    with connect(fresh_warehouse_url) as conn:
        record(conn, tenant_id="acme", employee_id="E1", purpose=PURPOSE, action="grant", source="form")
        with pytest.raises(ValueError, match="needs a reason"):
            record(conn, tenant_id="acme", employee_id="E1", purpose=PURPOSE, action="withdraw", source="form")
        conn.commit()
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("DELETE FROM core.consent_events")
