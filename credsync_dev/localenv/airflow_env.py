"""Environment for running Airflow locally against the project's DAGs and sandboxes.

Connections are handed to Airflow as ``AIRFLOW_CONN_*`` environment variables
built from the running sandboxes' secrets, so no secret is ever written in code.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from credsync.paths import PROJECT_ROOT
from credsync.tenants import Tenant

POOLS = {
    "scim_api": (4, "Concurrent SCIM calls to the LMS, across tenants"),
    "registry_api": (4, "Concurrent calls to the national registry, across tenants"),
    "hris_api": (4, "Concurrent HRIS API calls (export and write-back), across tenants"),
}


def airflow_base_env(airflow_home: Path) -> dict[str, str]:
    """Settings that point Airflow at this repository's DAGs and plugins."""
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # LocalExecutor starts `parallelism` worker processes (32 by default): one per core here.
        "AIRFLOW__CORE__PARALLELISM": str(local_parallelism()),
        # local_settings/ holds airflow_local_settings.py: the scheduler policy labelling tenant tasks.
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "plugins"),
                                       str(Path(__file__).with_name("local_settings"))]),
        "CREDSYNC_PROJECT_ROOT": str(PROJECT_ROOT),
        "NO_PROXY": "*",
    }


def local_parallelism() -> int:
    """Task slots for a local Airflow: the machine's cores (at least 2, so a mapped pair can overlap)."""
    return max(2, os.cpu_count() or 1)


def warehouse_connection_env(url: str) -> dict[str, str]:
    """``AIRFLOW_CONN_CREDSYNC_WAREHOUSE`` for a libpq URL (TCP or socket directory)."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or ""])[0]
    port = query.get("port", [parts.port])[0]
    conn = {
        "conn_type": "postgres",
        "host": host,
        "login": parts.username or "postgres",
        "password": parts.password or "",
        "schema": parts.path.lstrip("/") or "postgres",
    }
    if port:
        conn["port"] = int(port)
    return {"AIRFLOW_CONN_CREDSYNC_WAREHOUSE": json.dumps(conn)}


def sandbox_connections_env(tenants: list[Tenant], urls: dict[str, str], secrets: dict[str, str]) -> dict[str, str]:
    """One ``AIRFLOW_CONN_*`` per tenant connection id, pointing at the sandboxes."""
    # The registry sandbox's own defaults when an older secrets file has no notification secrets.
    from sandbox.registry.notifications import DEFAULT_NOTIFICATION_SECRET, DEFAULT_WEBHOOK_SECRET

    hris_tokens = json.loads(secrets["SANDBOX_HRIS_TOKENS"])
    lrs_credentials = json.loads(secrets["SANDBOX_LRS_CREDENTIALS"])
    lms_tokens = json.loads(secrets["SANDBOX_LMS_TOKENS"])
    registry_clients = json.loads(secrets["SANDBOX_REGISTRY_CLIENTS"])
    client_id, client = next(iter(registry_clients.items()))
    env: dict[str, str] = {}
    for tenant in tenants:
        tid = tenant.tenant_id
        conns = {
            tenant.conn_id("hris"): _http(urls["hris"], password=hris_tokens[tid]),
            tenant.conn_id("scim"): _http(urls["scim"], password=secrets["SANDBOX_SCIM_TOKEN"]),
            # The LRS and LMS hooks take the whole endpoint from the connection: the sandbox's per-tenant paths.
            tenant.conn_id("lrs"): _http(f"{urls['lrs']}/{tid}/xAPI/", login=lrs_credentials[tid][0],
                                         password=lrs_credentials[tid][1]),
            tenant.conn_id("lms"): _http(f"{urls['lrs']}/{tid}/lms/api/v1/", password=lms_tokens[tid]),
            # Extras sign the registry notifications and verify the registry's reviews (docs/registry.md).
            tenant.conn_id("registry"): _http(urls["registry"], login=client_id, password=client["secret"], extra={
                "notification_secret": secrets.get("SANDBOX_REGISTRY_NOTIFICATION_SECRET")
                or DEFAULT_NOTIFICATION_SECRET,
                "webhook_secret": secrets.get("SANDBOX_REGISTRY_WEBHOOK_SECRET") or DEFAULT_WEBHOOK_SECRET}),
        }
        if "idp" in urls and "SANDBOX_IDP_TOKENS" in secrets:
            # The IdP (groups, role claims) is optional per tenant; the sandbox serves each under /{tenant}.
            conns[f"idp_{tid}"] = _http(f"{urls['idp']}/{tid}", password=json.loads(secrets["SANDBOX_IDP_TOKENS"])[tid])
        national = tenant.national or {}
        if national.get("lrs") and "nelc" in urls and "SANDBOX_NELC_CREDENTIALS" in secrets:
            # The national LRS (NELC) of a tenant with a national profile; the sandbox declares sa-riyadh.
            secret = json.loads(secrets["SANDBOX_NELC_CREDENTIALS"]).get(f"nelc-{tid}")
            if secret:
                conns[national["lrs"]] = {**_http(f"{urls['nelc']}/xapi", login=f"nelc-{tid}", password=secret[0]),
                                          "extra": json.dumps({"region": "sa-riyadh"})}
        conns.update(_marketplace_connection(tid, urls, secrets))
        for conn_id, conn in conns.items():
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return env


def _marketplace_connection(tenant_id: str, urls: dict[str, str], secrets: dict[str, str]) -> dict[str, object]:
    """The talent marketplace Connection of a tenant with a ``marketplace:`` profile: its OAuth client
    (``mkt-<tenant>``), the secret its events are signed with and the one its webhooks are signed
    with, from the launcher's env."""
    from credsync.marketplace.profile import profile_of
    from sandbox.launcher import marketplace_client_id

    profile = profile_of(tenant_id)
    if profile is None or "marketplace" not in urls or "SANDBOX_MARKETPLACE_CLIENTS" not in secrets:
        return {}
    client_id = marketplace_client_id(tenant_id)
    client = json.loads(secrets["SANDBOX_MARKETPLACE_CLIENTS"]).get(client_id)
    if not client:
        return {}
    extra = {"signing_secret": client["signing_secret"]}
    # The secret the marketplace signs its member webhooks to this tenant with (the receiver's check).
    webhook_secret = json.loads(secrets.get("SANDBOX_MARKETPLACE_WEBHOOK_SECRETS") or "{}").get(tenant_id)
    if webhook_secret:
        extra["webhook_secret"] = webhook_secret
    return {profile.conn_id: _http(urls["marketplace"], login=client_id, password=client["secret"], extra=extra)}


def _http(base_url: str, *, login: str = "", password: str = "",
          extra: dict[str, str] | None = None) -> dict[str, object]:
    # host as the full URL (scheme, port, path): credsync.hooks.base reads it as one.
    conn: dict[str, object] = {"conn_type": "http", "host": base_url, "login": login, "password": password}
    if extra:
        conn["extra"] = extra
    return conn
