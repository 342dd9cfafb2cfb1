"""HRIS delta export → staging → Great Expectations gate → core.workers (per tenant)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from airflow.sdk import Param, dag, task_group

from credsync.dagkit import (
    DEFAULT_ARGS,
    WAREHOUSE_CONN_ID,
    WORKERS,
    check_warehouse_schema,
    enabled_tenants,
    fail_without_retry,
    tenant_task,
)

if TYPE_CHECKING:
    from credsync.tenants import Tenant

DOC_MD = """
### HRIS delta export (`hris_delta_export`)

**What**: for every enabled tenant (include/tenants.yaml), pull the workers changed since the
tenant's watermark (`audit.sync_state`, source `hris`, stream `workers`) from the HRIS REST export
(cursor-paged, `updated_since`) or the newest CSV file drop, map them with
`include/mappings/hris_worker_v1.csv`, COPY them into `staging.hris_workers` under a new batch id,
validate the batch in Postgres with the Great Expectations suite `hris_workers` (unique employee_id,
required fields, email format, allowed status/type, sane dates, mass-termination share; before it,
schema drift and the share of quarantined records; thresholds in `include/quality/hris_workers.yaml`;
every failure names the offending employee_ids), then merge into `core.workers`, recording every changed
field in `core.worker_changes`. The watermark advances in the merge transaction. Emits the
`core.workers` asset, which triggers `scim_provisioning`.

**Future-dated changes** load as exported (a termination dated next week is in `core.workers` today);
`scim_provisioning` holds them until their date in the tenant's time zone (`core.held_changes`) and its
hourly run applies them on that day without another export (docs/runbook.md, *Provisioning guards*).

**Inputs**: connections `hris_<tenant>` (http; password = Bearer token) and `credsync_warehouse`.
**Outputs**: `audit.batches` (one row per batch, counts reconcile in = loaded + quarantined),
`audit.quarantine` (rows the mapping rejected, with the file/row/field reason), `core.workers`,
`core.worker_changes`. Returns per tenant: records_in, loaded, quarantined, inserted, updated.

**Blocked batch**: the `gate` task fails without retry; the batch is `rejected` in `audit.batches`
with the validation JSON and the Data Docs link (also in the task log); `core` is untouched and the
watermark does not move, so the next run retries the same window once the HRIS is fixed.

**Unblock a rejected batch** (docs/runbook.md, "A rejected HRIS batch"): fix the records at the HRIS
and let the next run retry the same window (it re-stages the same batch), or park the records the gate
named and continue: trigger this DAG with `park_tenant`, `park_batch_id` and `park_records` (or
`park_all_quarantined`) and `park_note`; the tenant's extract parks them, re-stages the batch without
them, and the gate, merge and watermark proceed. Schema drift cannot be parked: fix the export or the
mapping. CLI equivalent: `python -m credsync.people.park --url … --tenant … --batch … --record … --by …`.

**Rerun safely**: clear any task or the whole run. A cleared extract re-stages the window's batch that
is not merged yet (the same batch id, its attempt counted), reads the delta after the watermark once a
merge moved it, and skips a file drop that was already merged; merging again changes nothing already
merged (no new rows, no change history). Params:
`full_export` ignores the watermark (a full reconciliation load); `source=filedrop` reads the newest
`workers_*.csv` under `<drop root>/<tenant>/` instead of the API. The drop root is in the object store
(`$CREDSYNC_HRIS_DROP`, else `$CREDSYNC_OBJECT_STORE/hris_drop`), or the `drop_dir` param (a store
URL or absolute path), so every worker reads the same drop.
"""


@tenant_task
def extract_and_stage(tenant: Tenant, params: dict | None = None, run_id: str | None = None) -> dict:
    """Pull the tenant's delta and stage it as one batch (rows the mapping rejects are quarantined)."""
    from credsync.hooks.hris import HrisHook
    from credsync.people import flow
    from credsync.people.filedrop import latest_drop
    from credsync.warehouse import url_from_connection

    params = params or {}
    if params.get("source") == "filedrop":
        open_export = flow.csv_export(latest_drop(params.get("drop_dir"), tenant.tenant_id))
    else:
        open_export = HrisHook(tenant.conn_id("hris"), tenant.tenant_id).export
    return flow.extract_and_stage(url_from_connection(WAREHOUSE_CONN_ID), tenant_id=tenant.tenant_id,
                                  open_export=open_export, full=bool(params.get("full_export")),
                                  dag_run_id=run_id, id_case=tenant.identity_case,
                                  park=flow.park_request(params, run_id))


@tenant_task
def gate(tenant: Tenant, staged: dict) -> dict:
    """Great Expectations gate on the staged batch; a blocked batch fails here (no retry), core untouched."""
    from credsync.ingest.gate import BatchRejected
    from credsync.people import flow
    from credsync.warehouse import url_from_connection

    with fail_without_retry(BatchRejected):
        return flow.gate(url_from_connection(WAREHOUSE_CONN_ID), staged)


@tenant_task(outlets=[WORKERS])
def merge(tenant: Tenant, gated: dict) -> dict:
    """Merge into core.workers with change history; the watermark moves in the same transaction."""
    from credsync.people import flow
    from credsync.warehouse import url_from_connection

    return flow.merge(url_from_connection(WAREHOUSE_CONN_ID), gated)


@task_group
def export_tenant(tenant_id: str) -> None:
    """One tenant's chain; a mapped group, so a blocked batch stops only its own tenant."""
    merge(tenant_id, gate(tenant_id, extract_and_stage(tenant_id)))


@dag(
    dag_id="hris_delta_export",
    schedule="15 * * * *",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=DOC_MD,
    tags=["credsync", "hris", "people"],
    params={
        "full_export": Param(False, type="boolean", description="Ignore the watermark and export every worker."),
        "source": Param("api", enum=["api", "filedrop"], description="HRIS REST export or the newest CSV drop."),
        "drop_dir": Param(None, type=["null", "string"],
                          description="File-drop root, a store URL or absolute path (contains "
                                      "<tenant>/workers_*.csv); empty: the object store's hris_drop/. "
                                      "source=filedrop only."),
        "park_tenant": Param(None, type=["null", "string"],
                             description="Unblock a rejected batch: the tenant whose batch to park records of."),
        "park_batch_id": Param(None, type=["null", "string"],
                               description="Unblock a rejected batch: its batch id (task log, audit.batches)."),
        "park_records": Param([], type="array", items={"type": "string"},
                              description="Record keys (employee_id) the gate named, to park for review."),
        "park_all_quarantined": Param(False, type="boolean",
                                      description="Park every record staging quarantined in that batch."),
        "park_note": Param(None, type=["null", "string"],
                           description="Why (incident/ticket); kept on the parked rows."),
    },
)
def hris_delta_export() -> None:
    tenants = enabled_tenants()
    check_warehouse_schema() >> tenants
    export_tenant.expand(tenant_id=tenants)


hris_delta_export()
