"""The retention DAG's tasks (dags/retention.py): check the policies, then enforce them per tenant."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import get_current_context, task

from credsync.dagkit import WAREHOUSE_CONN_ID, fail_without_retry, tenant_task

if TYPE_CHECKING:
    from credsync.tenants import Tenant

REPORT_FOLDER = "retention"
REPORT_STORE_ENV = "CREDSYNC_RETENTION_REPORT_STORE"


def _warehouse_url() -> str:
    from credsync.warehouse import url_from_connection

    return url_from_connection(WAREHOUSE_CONN_ID)


@task
def check_retention_policies() -> dict[str, dict[str, str]]:
    """Parse every policy the run enforces; an unparseable or conflicting one fails the run before any
    tenant is touched (not retried: the same files fail the same way). Returns them as text."""
    from credsync.governance.retention import SOURCES, RetentionRefused, _termination_clause
    from credsync.governance.retention_policy import load_policies
    from credsync.mapping.engine import MappingError

    with fail_without_retry(MappingError, RetentionRefused):
        policies = load_policies([s.mapping for s in SOURCES])
        _termination_clause(policies)
    return {name: {layer: str(clause) for layer, clause in p.layers.items()} for name, p in policies.items()}


def run_retention(tenant_id: str, *, warehouse_url: str, as_of: Any, run_id: str, store: Any = None,
                  **options: Any) -> dict[str, Any]:
    """One tenant's retention, committed, then its report written and the audit chain checkpointed."""
    from credsync.audit.store import checkpoint_tenant
    from credsync.governance.retention import apply_retention, as_of_from, write_report
    from credsync.objects import store_path
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        result = apply_retention(conn, tenant_id, as_of=as_of_from(as_of), run_id=run_id, **options)
        conn.commit()
    report = result.as_dict()
    report["report_url"] = write_report(result, store if store is not None
                                        else store_path(REPORT_FOLDER, REPORT_STORE_ENV))
    with connect(warehouse_url) as conn:
        conn.execute("UPDATE audit.retention_runs SET report_url = %s WHERE tenant_id = %s AND run_id = %s"
                     " AND (report_url IS NULL OR %s > 0)",
                     (report["report_url"], tenant_id, run_id, result.total))
        conn.commit()
    if result.total:
        checkpoint_tenant(warehouse_url, tenant_id)
    return report


@tenant_task
def apply_retention_policies(tenant: Tenant, policies: dict[str, Any]) -> dict[str, Any]:
    """Purge or pseudonymise what the policies say is expired at the run's logical date."""
    from credsync.governance.retention import RetentionRefused
    from credsync.mapping.engine import MappingError

    context = get_current_context()
    moment = context.get("logical_date") or context["dag_run"].run_after
    with fail_without_retry(MappingError, RetentionRefused):
        return run_retention(tenant.tenant_id, warehouse_url=_warehouse_url(), as_of=moment,
                             run_id=context["run_id"])
