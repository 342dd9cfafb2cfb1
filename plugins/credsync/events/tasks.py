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


@task(retries=2)
def tenants_with_events() -> list[str]:
    """The enabled tenants that have recorded events no run has finished (empty: nothing to map).

    Checks the warehouse schema first (as ``check_warehouse_schema`` does in the other DAGs): one task
    less on a path measured in seconds.
    """
    from credsync.events.flow import open_tenants
    from credsync.tenants import load_tenants
    from credsync.warehouse import check_schema

    url = _warehouse_url()
    check_schema(url, where=f"warehouse (connection {WAREHOUSE_CONN_ID})")
    enabled = {t.tenant_id for t in load_tenants()}
    return [tenant for tenant in open_tenants(url) if tenant in enabled]


@tenant_task
def ingest(tenant: Tenant, params: dict | None = None, run_id: str | None = None) -> dict[str, Any]:
    """Claim the tenant's events, stage their completions, the LMS GX gate, merge — the pull's steps in one task.

    One task rather than three because each task start costs seconds on a path whose point is
    seconds; each step is still idempotent, so a retry or a clear redoes them safely (the run's
    claim and batch are found again). A refused batch fails this tenant only, without retry.
    """
    from credsync.events import flow
    from credsync.ingest.gate import BatchRejected

    params = params or {}
    url = _warehouse_url()
    staged = flow.claim_and_stage(url, tenant_id=tenant.tenant_id, run_id=run_id)
    with fail_without_retry(BatchRejected):
        validated = flow.gate(url, staged, max_quarantine_share=float(params.get("max_quarantine_share", 0.05)),
                              min_batch_size=int(params.get("min_batch_size", 20)))
    return flow.merge(url, validated)


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
def deliver(tenant: Tenant, merged: dict, issued: dict) -> dict[str, Any]:
    """Push the new credentials to the registry, then write back the affected learners' HRIS lines.

    The registry push is registry_push's (ledger, Idempotency-Key); the write-back hris_writeback's,
    limited to the learners this run loaded.
    """
    from credsync.credentials.rules import load_rules
    from credsync.delivery.config import load_delivery_settings
    from credsync.delivery.push import push_submissions
    from credsync.delivery.tasks import _as_of, _hris_client, _registry_client
    from credsync.delivery.writeback import sync_writebacks
    from credsync.events.flow import affected_learners, writeback_keys

    if not merged.get("learners"):
        return {"skipped": "no completion loaded"}
    url = _warehouse_url()
    learners = affected_learners(url, tenant_id=tenant.tenant_id, run_id=merged["run_id"])
    pushed = push_submissions(url, tenant.tenant_id, _registry_client(tenant), operations=("issue",)).as_counts()
    only = writeback_keys(learners, (rule.credential_type for rule in load_rules()))
    written = sync_writebacks(url, tenant.tenant_id, _hris_client(tenant), as_of=_as_of(),
                              payroll_dir=load_delivery_settings().writeback.payroll_csv_dir, only=only).as_counts()
    return {"registry": pushed, "writeback": written}
