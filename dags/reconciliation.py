"""reconciliation: daily drift check of HRIS, LMS, credentials, registry and write-backs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pendulum
from airflow.sdk import Param, dag, task, task_group

from credsync.dagkit import (
    DEFAULT_ARGS,
    FINDINGS,
    WAREHOUSE_CONN_ID,
    check_warehouse_schema,
    fail_without_retry,
    tenant_task,
)

if TYPE_CHECKING:
    from credsync.tenants import Tenant

DOC = """
### reconciliation

Daily per tenant (mapped over enabled tenants in `include/tenants.yaml`), and on
demand from the trigger form.

1. **snapshot_lms / snapshot_registry / snapshot_hris** — side by side, each lists one
   system (LMS SCIM Users, registry `GET /v1/certificates`, HRIS certifications and
   payroll flags) and COPYs it into `staging.*_snapshot`; each retries on its own.
2. **compare** — set-based SQL (`include/sql/recon/`) over `core` and the snapshots:
   HRIS↔LMS, completions↔credentials, credentials↔registry, credentials↔HRIS/payroll.
   Opens/updates/closes `recon.findings`, re-queues the safe fixes
   (`include/recon.yaml`), records `recon.runs` metrics. Emits `recon.findings`.
3. **compare_groups** — lists the LMS groups (SCIM `GET /Groups` with members) and compares them
   with `core.group_memberships` (comparison `scim_groups`, same run): a member missing or
   unexpected, a managed group gone, an account credsync never made in a managed group. The safe
   fix marks the group for re-push; `scim_provisioning`'s `push_groups` converges it.
4. **gate** — Great Expectations check of the run: drift ≤ 1 % per comparison,
   delivery success ≥ 99 %. A breach fails the task (no retry) and the
   `on_failure_callback` logs it and writes `recon.alerts`.
5. **report** — HTML + PNG charts to `reports/<tenant>/` in the object store (runs even when
   the gate failed; fails with a clear message when compare did not finish).

**Backfill one run at a time:** a backfill has its own `max_active_runs` (10 by
default), not this DAG's: `airflow backfill create --dag-id reconciliation
--from-date … --to-date … --max-active-runs 1`. Overlapping runs replace each
other's snapshots and their compare fails with `SnapshotMissing`.

**Rerun safely:** clearing a task or the run is idempotent — the run id is derived
from (tenant, DAG run id), an open finding keeps one row, and a fix is applied only
the first time a finding is seen. To rerun one tenant, clear its mapped task
(the grid shows the tenant name). See `docs/runbook.md`.

**Params:** `tenant_id` (limit a manual run to one tenant), `report_dir`.
"""


@dag(
    dag_id="reconciliation",
    schedule="0 5 * * *",
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=DOC,
    tags=["credsync", "reconciliation"],
    params={
        "tenant_id": Param(None, type=["null", "string"], pattern="^[a-z][a-z0-9_]{1,30}$",
                           description="Only this tenant (empty: every enabled tenant)."),
        "report_dir": Param(None, type=["null", "string"],
                            description="Where reports go: a store URL or absolute path (empty: report_dir of "
                                        "include/recon.yaml, else the object store's reports/)."),
    },
)
def reconciliation() -> None:
    @task
    def tenants(params: dict | None = None) -> list[str]:
        """Enabled tenants, or just the one asked for in the trigger form."""
        from credsync.tenants import load_tenants

        enabled = [t.tenant_id for t in load_tenants()]
        wanted = (params or {}).get("tenant_id")
        if wanted and wanted not in enabled:
            raise ValueError(f"tenant_id {wanted!r} is not an enabled tenant ({', '.join(enabled)})")
        return [wanted] if wanted else enabled

    def snapshot_task(source: str, system: str):
        @tenant_task(task_id=f"snapshot_{source}", doc_md=(
            f"COPY the {system} listing of one tenant into staging (a new snapshot replaces the "
            "previous one in the same transaction, so a failed load leaves the last good one). "
            "Safe to clear and rerun on its own."))
        def snapshot(tenant: Tenant) -> str:
            from credsync.recon.tasks import snapshot_listing
            from credsync.warehouse import url_from_connection

            return snapshot_listing(url_from_connection(WAREHOUSE_CONN_ID), tenant.tenant_id, source)

        return snapshot

    snapshot_lms = snapshot_task("lms", "LMS (SCIM Users)")
    snapshot_registry = snapshot_task("registry", "registry (GET /v1/certificates)")
    snapshot_hris = snapshot_task("hris", "HRIS (certifications and payroll flags)")

    @tenant_task(outlets=[FINDINGS])
    def compare(tenant: Tenant, lms: str, registry: str, hris: str, dag_run=None) -> dict:
        from credsync.recon.tasks import compare as run_compare
        from credsync.warehouse import url_from_connection

        return run_compare(url_from_connection(WAREHOUSE_CONN_ID), tenant.tenant_id,
                           {"lms": lms, "registry": registry, "hris": hris},
                           dag_run_id=getattr(dag_run, "run_id", None))

    @tenant_task(outlets=[FINDINGS])
    def compare_groups(tenant: Tenant, dag_run=None) -> dict:
        """List the LMS groups (SCIM Groups with members) and compare them with core.group_memberships."""
        from credsync.recon.groups import reconcile_tenant_groups
        from credsync.warehouse import url_from_connection

        return reconcile_tenant_groups(url_from_connection(WAREHOUSE_CONN_ID), tenant.tenant_id,
                                       dag_run_id=getattr(dag_run, "run_id", None))

    def _alert(context: dict) -> None:
        from credsync.recon.alerts import on_reconciliation_failure

        on_reconciliation_failure(context)

    @tenant_task(on_failure_callback=_alert)
    def gate(tenant: Tenant, outcome: dict) -> dict:
        """Drift and delivery thresholds; a breach fails at once (a retry would see the same run)."""
        from credsync.recon.gate import ReconGateFailed
        from credsync.recon.tasks import gate as run_gate
        from credsync.warehouse import url_from_connection

        with fail_without_retry(ReconGateFailed):
            return run_gate(url_from_connection(WAREHOUSE_CONN_ID), tenant.tenant_id, outcome["run_id"])

    @tenant_task(trigger_rule="all_done")
    def report(tenant: Tenant, outcome: dict | None, params: dict | None = None) -> dict:
        """The tenant's report; runs after a failed gate too, but not without a compared run."""
        from airflow.sdk.exceptions import AirflowFailException

        from credsync.recon.tasks import report as write_report
        from credsync.warehouse import url_from_connection

        tenant_id = tenant.tenant_id
        if not outcome:
            # all_done also fires when compare failed (e.g. SnapshotMissing): there is no run to report.
            raise AirflowFailException(
                f"tenant {tenant_id}: compare did not finish in this DAG run, so there is nothing to report. "
                "Read compare's log (SnapshotMissing: runs overlapped, see docs/runbook.md 'Reconciliation'), "
                "then clear compare with downstream.")
        return write_report(url_from_connection(WAREHOUSE_CONN_ID), tenant_id, (params or {}).get("report_dir"))

    @task_group
    def reconcile_tenant(tenant_id: str) -> None:
        """One tenant's chain; a mapped group, so one tenant's failure leaves the others running."""
        # The three listings run side by side; compare waits for all of them.
        outcome = compare(tenant_id, snapshot_lms(tenant_id), snapshot_registry(tenant_id), snapshot_hris(tenant_id))
        # Groups join the same run after compare, so the gate judges their drift too.
        groups, checked = compare_groups(tenant_id), gate(tenant_id, outcome)
        outcome >> groups >> checked
        checked >> report(tenant_id, outcome)

    wanted = tenants()
    check_warehouse_schema() >> wanted
    reconcile_tenant.expand(tenant_id=wanted)


reconciliation()
