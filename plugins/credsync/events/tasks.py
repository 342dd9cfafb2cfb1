"""The Airflow tasks of the ``completion_events`` DAG; each maps over one tenant and returns counts.

The DAG file only wires these. Heavy modules are imported inside the bodies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.sdk import get_current_context, task

from credsync.dagkit import WAREHOUSE_CONN_ID, fail_without_retry, tenant_task
from credsync.delivery.config import REGISTRY_POOL

if TYPE_CHECKING:
    from credsync.tenants import Tenant


def _warehouse_url() -> str:
    from credsync.warehouse import url_from_connection

    return url_from_connection(WAREHOUSE_CONN_ID)


@task
def tenants_with_events() -> list[str]:
    """The enabled tenants that have recorded events no run has finished (empty: nothing to map)."""
    from credsync.events.flow import open_tenants
    from credsync.tenants import load_tenants

    enabled = {t.tenant_id for t in load_tenants()}
    return [tenant for tenant in open_tenants(_warehouse_url()) if tenant in enabled]


@tenant_task
def claim_and_stage(tenant: Tenant, run_id: str | None = None) -> dict[str, Any]:
    """Claim the tenant's recorded events for this run and stage their completions as one batch."""
    from credsync.events import flow

    return flow.claim_and_stage(_warehouse_url(), tenant_id=tenant.tenant_id, run_id=run_id)


@tenant_task
def gate(tenant: Tenant, staged: dict, params: dict | None = None) -> dict[str, Any]:
    """The LMS pull's GX gate on the event batch; a refused batch fails this tenant only (no retry)."""
    from credsync.events import flow
    from credsync.ingest.gate import BatchRejected

    params = params or {}
    with fail_without_retry(BatchRejected):
        return flow.gate(_warehouse_url(), staged,
                         max_quarantine_share=float(params.get("max_quarantine_share", 0.05)),
                         min_batch_size=int(params.get("min_batch_size", 20)))


@tenant_task
def merge(tenant: Tenant, validated: dict) -> dict[str, Any]:
    """Merge into core.completions (the pull's merge and keys) and close the events; names the learners."""
    from credsync.events import flow

    return flow.merge(_warehouse_url(), validated)


@tenant_task
def issue(tenant: Tenant, merged: dict) -> dict[str, Any]:
    """Credentials for what was loaded (set-based per tenant: only new evidence makes a credential)."""
    from credsync.audit.store import checkpoint_tenant
    from credsync.credentials.issuance import issue_credentials
    from credsync.credentials.keys import signing_key_from_connection
    from credsync.credentials.rules import load_rules
    from credsync.warehouse import connect

    if not merged.get("learners"):
        return {"skipped": "no completion loaded"}
    url = _warehouse_url()
    with connect(url, autocommit=True) as conn:
        result = issue_credentials(conn, tenant_id=tenant.tenant_id, rules=load_rules(),
                                   signing_key=signing_key_from_connection(),
                                   run_id=get_current_context()["run_id"])
    checkpoint_tenant(url, tenant.tenant_id)
    return result.as_counts()


@tenant_task(pool=REGISTRY_POOL)
def push(tenant: Tenant, merged: dict, issued: dict) -> dict[str, Any]:
    """Send the new credentials to the registry (its ledger and idempotency keys as in registry_push)."""
    from credsync.delivery.push import push_submissions
    from credsync.delivery.tasks import _registry_client

    if not merged.get("learners"):
        return {"skipped": "no completion loaded"}
    return push_submissions(_warehouse_url(), tenant.tenant_id, _registry_client(tenant),
                            operations=("issue",)).as_counts()


@tenant_task
def write_back(tenant: Tenant, merged: dict, pushed: dict) -> dict[str, Any]:
    """HRIS profile lines and payroll flags of the affected learners only."""
    from credsync.credentials.rules import load_rules
    from credsync.delivery.config import load_delivery_settings
    from credsync.delivery.tasks import _as_of, _hris_client
    from credsync.delivery.writeback import sync_writebacks
    from credsync.events.flow import writeback_keys

    learners = merged.get("learners") or []
    if not learners:
        return {"skipped": "no completion loaded"}
    only = writeback_keys(learners, (rule.credential_type for rule in load_rules()))
    return sync_writebacks(_warehouse_url(), tenant.tenant_id, _hris_client(tenant), as_of=_as_of(),
                           payroll_dir=load_delivery_settings().writeback.payroll_csv_dir, only=only).as_counts()
