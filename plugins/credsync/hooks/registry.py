"""RegistryHook: the national credential registry, reached through one Airflow connection.

Connection (default id ``registry_national``, conn_type http):
``host`` (127.0.0.1, or a full ``http(s)://host`` URL), ``port``, ``schema``
(``http``/``https``), ``login`` = OAuth client_id, ``password`` = client_secret.
Throughput across tenants is shared through the Airflow pool ``registry_api``
on the tasks that use this hook, not inside the hook.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.http.hooks.http import HttpHook

from credsync.delivery.config import REGISTRY_POOL, RegistrySettings, load_delivery_settings
from credsync.delivery.registry_client import RegistryClient, RegistryTarget

__all__ = ["REGISTRY_POOL", "RegistryHook"]


class RegistryHook(HttpHook):
    """Builds a :class:`RegistryClient` (OAuth2, idempotency keys, retries) from the connection."""

    conn_name_attr = "registry_conn_id"
    default_conn_name = "registry_national"
    conn_type = "http"
    hook_name = "National credential registry"

    def __init__(self, registry_conn_id: str = default_conn_name, settings: RegistrySettings | None = None,
                 **kwargs: Any) -> None:
        super().__init__(method="POST", http_conn_id=registry_conn_id, **kwargs)
        self.registry_conn_id = registry_conn_id
        self.settings = settings or load_delivery_settings().registry

    def get_target(self) -> RegistryTarget:
        """Base URL and client credentials from the connection; errors name the connection and field."""
        conn = self.get_connection(self.registry_conn_id)
        if not conn.host:
            raise ValueError(f"connection {self.registry_conn_id!r}: host is required")
        if not conn.login or not conn.password:
            raise ValueError(f"connection {self.registry_conn_id!r}: login (client_id) and password "
                             "(client_secret) are required")
        base = conn.host if "://" in conn.host else f"{conn.schema or 'http'}://{conn.host}"
        if conn.port:
            base = f"{base.rstrip('/')}:{conn.port}"
        return RegistryTarget(base_url=base.rstrip("/"), client_id=conn.login, client_secret=conn.password)

    def get_client(self) -> RegistryClient:
        return RegistryClient(self.get_target(), self.settings)
