"""The demo's marketplace Connections (credsync_dev.localenv) carry each tenant's OAuth client from the launcher."""

from __future__ import annotations

import json

from credsync.hooks.marketplace import MarketplaceHook
from credsync.marketplace.profile import load_profiles
from credsync.tenants import load_tenants
from credsync_dev.localenv.airflow_env import sandbox_connections_env
from sandbox.launcher import generate_secrets, marketplace_client_id

URLS = {"registry": "http://127.0.0.1:18701", "hris": "http://127.0.0.1:18702", "lrs": "http://127.0.0.1:18703",
        "scim": "http://127.0.0.1:18704", "marketplace": "http://127.0.0.1:18707"}


def test_each_marketplace_tenant_gets_its_client_and_signing_secret(monkeypatch):
    tenants = load_tenants()
    secrets = dict(generate_secrets([t.tenant_id for t in tenants]))
    for name, value in sandbox_connections_env(tenants, URLS, secrets).items():
        monkeypatch.setenv(name, value)
    clients = json.loads(secrets["SANDBOX_MARKETPLACE_CLIENTS"])
    profiles = load_profiles()
    assert profiles, "no tenant takes part in the marketplace sync"
    for tenant_id, profile in profiles.items():
        hook = MarketplaceHook(profile.conn_id, tenant_id)
        assert hook.endpoint().base_url == "http://127.0.0.1:18707"
        assert hook.connection.login == marketplace_client_id(tenant_id)
        assert hook.connection.password == clients[marketplace_client_id(tenant_id)]["secret"]
        assert hook.client("events").auth.scope == "write:learning write:badge"
        assert "signing_secret" not in hook.get_conn().headers


def test_without_the_marketplace_sandbox_there_is_no_connection():
    tenants = load_tenants()
    secrets = dict(generate_secrets([t.tenant_id for t in tenants]))
    env = sandbox_connections_env(tenants, {k: v for k, v in URLS.items() if k != "marketplace"}, secrets)
    assert not any(name.startswith("AIRFLOW_CONN_MARKETPLACE_") for name in env)
