"""ScimProvisionOperator: make one tenant's LMS users match core.workers over SCIM.

Thin: resolves the tenant's SCIM connection (include/tenants.yaml → Airflow
Connection, fields in :mod:`credsync.hooks.scim`) and the warehouse
connection ``credsync_warehouse``, then runs
:func:`credsync.people.provision.provision_tenant`. Runs in the Airflow pool
``scim_api`` by default, which caps concurrent SCIM clients across DAGs
(create it with e.g. ``airflow pools set scim_api 2 "SCIM API concurrency"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

SCIM_POOL = "scim_api"


class ScimProvisionOperator(BaseOperator):
    """Provision LMS accounts for ``tenant_id``; returns the action counts (XCom)."""

    template_fields: Sequence[str] = ("tenant_id", "deactivate_on_leave", "employee_ids")

    def __init__(
        self,
        *,
        tenant_id: str,
        deactivate_on_leave: bool | str = True,
        employee_ids: list[str] | None = None,
        warehouse_conn_id: str = "credsync_warehouse",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("pool", SCIM_POOL)
        super().__init__(**kwargs)
        self.tenant_id = tenant_id
        self.deactivate_on_leave = deactivate_on_leave
        self.employee_ids = employee_ids
        self.warehouse_conn_id = warehouse_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from credsync.hooks.scim import ScimHook
        from credsync.people.provision import provision_tenant
        from credsync.tenants import get_tenant
        from credsync.warehouse import connect, url_from_connection

        tenant = get_tenant(self.tenant_id)
        scim = ScimHook(tenant.conn_id("scim"), self.tenant_id).client()
        deactivate = self.deactivate_on_leave
        if isinstance(deactivate, str):
            deactivate = deactivate.strip().lower() in ("1", "true", "yes")
        run_id = context.get("run_id")
        with connect(url_from_connection(self.warehouse_conn_id)) as conn:
            report = provision_tenant(conn, scim, tenant_id=self.tenant_id, deactivate_on_leave=deactivate,
                                      employee_ids=self.employee_ids or None, dag_run_id=run_id)
        counts = report.as_dict()
        self.log.info("tenant %s: SCIM provisioning %s", self.tenant_id, counts)
        if report.failed:
            # Fail (and retry) so on-call sees it; the successful actions are already committed.
            raise RuntimeError(f"tenant {self.tenant_id}: {report.failed} SCIM action(s) failed; see core.scim_actions")
        return counts
