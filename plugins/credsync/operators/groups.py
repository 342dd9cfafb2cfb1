"""GroupPushOperator: one tenant's IdP claims and LMS groups (Okta Group Push style) over SCIM.

Thin: resolves the tenant's SCIM connection (include/tenants.yaml), the IdP connection
(``idp_conn_id``, default ``idp_<tenant>``; a tenant without one gets HRIS-attribute groups only)
and the warehouse connection, then runs :func:`credsync.groups.tasks.push_tenant_groups`. Runs in
the ``scim_api`` pool like provisioning, which it shares the SCIM target with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from credsync.operators.scim import SCIM_POOL


class GroupPushOperator(BaseOperator):
    """Push ``tenant_id``'s groups; returns the push counts (XCom)."""

    template_fields: Sequence[str] = ("tenant_id", "full", "idp_conn_id")

    def __init__(self, *, tenant_id: str, full: bool | str = False, idp_conn_id: str | None = None,
                 warehouse_conn_id: str = "credsync_warehouse", **kwargs: Any) -> None:
        kwargs.setdefault("pool", SCIM_POOL)
        super().__init__(**kwargs)
        self.tenant_id, self.full, self.idp_conn_id = tenant_id, full, idp_conn_id
        self.warehouse_conn_id = warehouse_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from credsync.groups.tasks import push_tenant_groups
        from credsync.tenants import get_tenant
        from credsync.warehouse import url_from_connection

        tenant = get_tenant(self.tenant_id)
        full = self.full.strip().lower() in ("1", "true", "yes") if isinstance(self.full, str) else bool(self.full)
        return push_tenant_groups(url_from_connection(self.warehouse_conn_id), self.tenant_id,
                                  scim_conn_id=tenant.conn_id("scim"),
                                  idp_conn_id=self.idp_conn_id or f"idp_{self.tenant_id}",
                                  full=full, dag_run_id=context.get("run_id"))
