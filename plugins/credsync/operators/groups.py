"""GroupPushOperator: one tenant's IdP claims and LMS groups (Okta Group Push style) over SCIM.

Thin: resolves the tenant's SCIM connection (include/tenants.yaml), the IdP connection
(``idp_conn_id``, default ``idp_<tenant>``; a tenant without one gets HRIS-attribute groups only)
and the warehouse connection, then runs :func:`credsync.groups.tasks.push_tenant_groups`. Runs in
the ``scim_api`` pool like provisioning, which it shares the SCIM target with. When the run staged
mass group removals (the brake, :mod:`credsync.groups.brake`), it triggers ``scim_change_approval``
for that set, as ``ask_approval`` does for deactivations.
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
        from credsync.groups.tasks import GroupPushFailed, push_tenant_groups
        from credsync.people.guard_steps import approval_trigger
        from credsync.tenants import get_tenant
        from credsync.warehouse import url_from_connection

        tenant = get_tenant(self.tenant_id)
        full = self.full.strip().lower() in ("1", "true", "yes") if isinstance(self.full, str) else bool(self.full)
        warehouse_url, run_id = url_from_connection(self.warehouse_conn_id), context.get("run_id")
        failure: GroupPushFailed | None = None
        result: dict[str, Any] = {}
        try:
            result = push_tenant_groups(warehouse_url, self.tenant_id, scim_conn_id=tenant.conn_id("scim"),
                                        idp_conn_id=self.idp_conn_id or f"idp_{self.tenant_id}",
                                        full=full, dag_run_id=run_id)
        except GroupPushFailed as exc:
            failure = exc
        trigger = approval_trigger(warehouse_url, self.tenant_id, run_id, "groups")
        if trigger is None:
            if failure is not None:
                raise failure
            return result
        # This run staged mass group removals: ask for the decision now (a set nobody is asked about
        # would hold every later removal). Failed groups are in core.group_actions; the next run
        # retries them and fails this task if they fail again.
        if failure is not None:
            self.log.error("%s; asking for the staged group removals' approval first", failure)
        context["ti"].xcom_push(key="return_value", value=result)
        self._ask_approval(trigger)
        return result

    @staticmethod
    def _ask_approval(trigger: dict[str, Any]) -> None:
        """Trigger scim_change_approval the way TriggerDagRunOperator does (the task runner handles it)."""
        from airflow.sdk.exceptions import DagRunTriggerException

        from credsync.people.guard_steps import APPROVAL_DAG_ID

        raise DagRunTriggerException(
            trigger_dag_id=APPROVAL_DAG_ID, dag_run_id=trigger["trigger_run_id"], conf=trigger["conf"],
            logical_date=None, run_after=None, reset_dag_run=False, skip_when_already_exists=True,
            wait_for_completion=False, allowed_states=["success"], failed_states=["failed"], poke_interval=60,
            deferrable=False)
