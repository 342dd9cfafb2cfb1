"""DAG lms_completion_pull: LRS statements + LMS REST completions → core.completions (per tenant)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task_group

from credsync.dagkit import (
    COMPLETIONS,
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

DOC = """
### LMS completion pull

**What**: per tenant, pulls xAPI statements from the LRS (`since` the last watermark minus an overlap,
`lookback_hours`, following `more` links; duplicates dedupe by id; the watermark never passes
`X-Experience-API-Consistent-Through` when the LRS sends it, and is right for LRSs that filter `since`
on `timestamp`, such as Ralph) and the LMS REST completions export
(`updated_since`), maps them through `include/mappings/xapi_statement_v1.csv` /
`lms_completion_v1.csv` into one staged batch (`staging.completions`), runs the Great Expectations gate,
and merges into `core.completions`. Emits the `core.completions` asset (triggers `credential_issuance`).

**Inputs**: connections from `include/tenants.yaml` (`lrs`: Basic key/secret, `lms`: Bearer token),
`credsync_warehouse`. Also runs when `core.workers` changes, so held completions are retried.

**Outputs**: `core.completions`, `core.held_completions` (person not in `core.workers` yet: held,
retried every run), `core.voided_statements`, `audit.quarantine` (rule + reason per bad record),
`audit.batches` (records_in = loaded + quarantined + dead; held count as loaded).

**Gate**: blocks the batch when more than `max_quarantine_share` of it is bad (missing actor, unknown verb,
score outside 0..100, future timestamp, foreign activity) or ids repeat; the batch becomes `rejected`,
`core` is untouched, the Data Docs link (in the object store) is in the log. Fix the source, then
clear the tenant's task.

**LRS sync** (`credsync.learning.lrs_sync`, figures per batch in `audit.lrs_pulls`): weekly, and when
triggered with `reconcile_statement_ids`, the pull also reads `reconcile_window_days` before the
watermark and pulls every statement id the warehouse never saw. Statements quarantined by an earlier
merged batch are skipped when the LRS sends them again (`replay_quarantined` re-evaluates them);
batches under `min_batch_size` are never refused for their share of bad records. An LRS error fails
only that tenant, naming the LRS, the query and what to do (runbook: *LRS pulls*).

**Rerun safely**: every step is idempotent (statements dedupe by id; the watermark advances only in the
merge transaction). Clearing any task, or the whole run, adds nothing the second time: a pull of a
window whose batch the gate refused re-stages that same batch, so its quarantine rows are written once.
"""


@tenant_task
def extract_and_stage(tenant: Tenant, params: dict | None = None, run_id: str | None = None) -> dict:
    """Pull both sources after their watermarks and COPY them into one staged batch."""
    from credsync.hooks.lms import LmsHook
    from credsync.hooks.lrs import LrsHook
    from credsync.learning import flow
    from credsync.learning.lrs_sync import LrsSyncPolicy, open_statement_sync
    from credsync.warehouse import url_from_connection

    params = params or {}
    warehouse_url = url_from_connection(WAREHOUSE_CONN_ID)
    lrs = LrsHook(tenant.conn_id("lrs"), tenant.tenant_id)
    statements = open_statement_sync(
        warehouse_url, tenant_id=tenant.tenant_id, open_pull=lrs.pull_statements,
        policy=LrsSyncPolicy.from_settings(lrs.extras, params),
        reconcile=bool(params.get("reconcile_statement_ids")),
        replay_quarantined=bool(params.get("replay_quarantined")), lrs_name=f"LRS {tenant.conn_id('lrs')!r}")
    return flow.extract_and_stage(
        warehouse_url, tenant_id=tenant.tenant_id, open_statements=statements,
        open_completions=LmsHook(tenant.conn_id("lms"), tenant.tenant_id).export_completions,
        full=bool(params.get("full_pull")), dag_run_id=run_id)


@tenant_task
def gate(tenant: Tenant, staged: dict, params: dict | None = None) -> dict:
    """Great Expectations gate on the staged batch; a blocked batch fails this tenant only (no retry)."""
    from credsync.ingest.gate import BatchRejected
    from credsync.learning import flow
    from credsync.warehouse import url_from_connection

    with fail_without_retry(BatchRejected):
        return flow.gate(url_from_connection(WAREHOUSE_CONN_ID), staged,
                         max_quarantine_share=float((params or {}).get("max_quarantine_share", 0.05)),
                         min_batch_size=int((params or {}).get("min_batch_size", 20)))


@tenant_task(outlets=[COMPLETIONS])
def merge(tenant: Tenant, validated: dict) -> dict:
    """Merge into core.completions, hold unknown people, apply voids, advance watermarks; one transaction."""
    from credsync.learning import flow
    from credsync.warehouse import url_from_connection

    return flow.merge(url_from_connection(WAREHOUSE_CONN_ID), validated)


@task_group
def pull_tenant(tenant_id: str) -> None:
    """One tenant's chain; a mapped group, so a blocked batch stops only its own tenant."""
    merge(tenant_id, gate(tenant_id, extract_and_stage(tenant_id)))


@dag(
    dag_id="lms_completion_pull",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("15 * * * *", timezone="UTC"), assets=WORKERS),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    dagrun_timeout=timedelta(hours=2),
    doc_md=DOC,
    tags=["credsync", "learning", "lrs", "lms"],
    params={
        "full_pull": Param(False, type="boolean", description="Ignore watermarks and pull everything (safe: dedupes)"),
        "max_quarantine_share": Param(0.05, type="number", minimum=0, maximum=0.5,
                                      description="Block a batch when more than this share of it is bad"),
        "min_batch_size": Param(20, type="integer", minimum=0,
                                description="Share thresholds apply only to batches of at least this many records"),
        "lookback_hours": Param(None, type=["null", "number"], minimum=0,
                                description="LRS overlap: ask for statements since watermark minus this"
                                            " (empty: the connection's extra, else 24)"),
        "reconcile_statement_ids": Param(False, type="boolean",
                                         description="Also read the wide window and pull statements never pulled"
                                                     " (runs weekly by itself)"),
        "reconcile_window_days": Param(None, type=["null", "number"], minimum=1,
                                       description="Reconciliation window before the watermark (empty: extra; 90)"),
        "replay_quarantined": Param(False, type="boolean",
                                    description="Re-evaluate statements quarantined before when the LRS sends them"
                                                " (after a fix), instead of skipping them"),
    },
)
def lms_completion_pull() -> None:
    tenants = enabled_tenants()
    check_warehouse_schema() >> tenants
    pull_tenant.expand(tenant_id=tenants)


lms_completion_pull()
