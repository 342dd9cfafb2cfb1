"""RegistryPushOperator: push one tenant's registry submissions (issue and revoke)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from credsync.delivery.config import REGISTRY_POOL


class RegistryPushOperator(BaseOperator):
    """Enqueue and push ``tenant_id``'s registry submissions; returns the counts dict.

    Reads the warehouse connection (``warehouse_conn_id``) and the tenant's
    registry connection from include/tenants.yaml (override with
    ``registry_conn_id``). Runs in the ``registry_api`` pool by default so all
    tenants together stay under the registry's rate limit. Safe to clear and
    rerun at any point: idempotency keys make re-sends harmless.
    """

    template_fields: Sequence[str] = ("tenant_id",)

    def __init__(self, *, tenant_id: str, warehouse_conn_id: str = "credsync_warehouse",
                 registry_conn_id: str | None = None, operations: Sequence[str] = ("issue", "revoke"),
                 **kwargs: Any) -> None:
        kwargs.setdefault("pool", REGISTRY_POOL)
        super().__init__(**kwargs)
        self.tenant_id = tenant_id
        self.warehouse_conn_id = warehouse_conn_id
        self.registry_conn_id = registry_conn_id
        self.operations = tuple(operations)

    def execute(self, context: Any) -> dict[str, Any]:
        from credsync.audit.store import checkpoint_tenant
        from credsync.delivery.config import load_delivery_settings
        from credsync.delivery.push import push_submissions
        from credsync.hooks.registry import RegistryHook
        from credsync.tenants import get_tenant
        from credsync.warehouse import url_from_connection

        conn_id = self.registry_conn_id or get_tenant(self.tenant_id).conn_id("registry")
        client = RegistryHook(conn_id, self.tenant_id,
                              **load_delivery_settings().registry.client_options()).get_client()
        warehouse_url = url_from_connection(self.warehouse_conn_id)
        result = push_submissions(warehouse_url, self.tenant_id, client, operations=self.operations)
        checkpoint_tenant(warehouse_url, self.tenant_id)  # the audit chain head, once the pushes committed
        self.log.info("registry push %s: %s", self.tenant_id, result.as_counts())
        return result.as_counts()
