"""The demo's generated connections (credsync_dev.localenv) give every hook the sandbox's URL shape."""

from __future__ import annotations

import json

from credsync.hooks.hris import HrisHook
from credsync.hooks.lms import LmsHook
from credsync.hooks.lrs import LrsHook
from credsync.hooks.registry import RegistryHook
from credsync.hooks.scim import ScimHook
from credsync.tenants import load_tenants
from credsync_dev.localenv.airflow_env import sandbox_connections_env

URLS = {"registry": "http://127.0.0.1:18701", "hris": "http://127.0.0.1:18702", "lrs": "http://127.0.0.1:18703",
        "scim": "http://127.0.0.1:18704"}


def test_demo_connections_reach_each_sandbox_where_it_answers(monkeypatch):
    tenants = load_tenants()
    ids = [t.tenant_id for t in tenants]
    secrets = {
        "SANDBOX_HRIS_TOKENS": json.dumps({t: f"hris-{t}" for t in ids}),
        "SANDBOX_LRS_CREDENTIALS": json.dumps({t: [f"key-{t}", f"secret-{t}"] for t in ids}),
        "SANDBOX_LMS_TOKENS": json.dumps({t: f"lms-{t}" for t in ids}),
        "SANDBOX_REGISTRY_CLIENTS": json.dumps({"client-1": {"secret": "s"}}),
        "SANDBOX_SCIM_TOKEN": "scim-token",
    }
    for name, value in sandbox_connections_env(tenants, URLS, secrets).items():
        monkeypatch.setenv(name, value)
    for tenant in tenants:
        t = tenant.tenant_id
        assert LrsHook(tenant.conn_id("lrs"), t).endpoint().url("statements") == \
            f"http://127.0.0.1:18703/{t}/xAPI/statements"
        assert LmsHook(tenant.conn_id("lms"), t).endpoint().url("completions") == \
            f"http://127.0.0.1:18703/{t}/lms/api/v1/completions"
        assert ScimHook(tenant.conn_id("scim"), t).endpoint().url("Users") == f"http://127.0.0.1:18704/{t}/v2/Users"
        assert HrisHook(tenant.conn_id("hris"), t).endpoint().base_url == "http://127.0.0.1:18702"
        registry = RegistryHook(tenant.conn_id("registry"))
        assert registry.endpoint().base_url == "http://127.0.0.1:18701"
        assert registry.auth().token_url == "http://127.0.0.1:18701/oauth/token"
