"""RegistryNotifyOperator: send one tenant's signed issuance and revocation notifications to the registry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from credsync.delivery.config import REGISTRY_POOL


class RegistryNotifyOperator(BaseOperator):
    """Enqueue, gate (GX suite ``registry_notifications``) and send ``tenant_id``'s notifications.

    Reads the warehouse connection (``warehouse_conn_id``) and the tenant's registry Connection
    from include/tenants.yaml (override with ``registry_conn_id``): the push's OAuth client, and
    extra ``notification_secret`` to sign. Runs in the ``registry_api`` pool like the push, so
    both share the registry's rate limit. Safe to clear and rerun: a notification already taken
    is not sent again, and one left 'sent' by a killed task goes out under the same event id,
    which the registry keeps once. Fails (and Airflow retries) when the registry stays
    unavailable or the gate blocks the batch; refused notifications are dead-lettered instead.
    Returns ``{enqueued, sent, delivered, dead, remaining, requests, gate}``.
    """

    template_fields: Sequence[str] = ("tenant_id",)

    def __init__(self, *, tenant_id: str, warehouse_conn_id: str = "credsync_warehouse",
                 registry_conn_id: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("pool", REGISTRY_POOL)
        super().__init__(**kwargs)
        self.tenant_id = tenant_id
        self.warehouse_conn_id = warehouse_conn_id
        self.registry_conn_id = registry_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from credsync.audit.store import checkpoint_tenant
        from credsync.delivery.config import load_delivery_settings
        from credsync.delivery.notifications import send_notifications
        from credsync.hooks.registry import RegistryHook
        from credsync.tenants import get_tenant
        from credsync.warehouse import url_from_connection

        conn_id = self.registry_conn_id or get_tenant(self.tenant_id).conn_id("registry")
        client = RegistryHook(conn_id, self.tenant_id,
                              **load_delivery_settings().registry.client_options()).notification_client()
        warehouse_url = url_from_connection(self.warehouse_conn_id)
        result = send_notifications(warehouse_url, self.tenant_id, client)
        checkpoint_tenant(warehouse_url, self.tenant_id)
        self.log.info("registry notifications %s: %s", self.tenant_id, result.as_counts())
        return result.as_counts()
