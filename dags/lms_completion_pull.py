"""DAG lms_completion_pull: LRS statements + LMS REST completions → core.completions (per tenant)."""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task, task_group

from credsync.dagkit import (
    COMPLETIONS,
    DEFAULT_ARGS,
    TENANT_MAP_INDEX,
    WAREHOUSE_CONN_ID,
    WORKERS,
    check_warehouse_schema,
    enabled_tenants,
    label_tenant,
)

DOC = """
### LMS completion pull

**What**: per tenant, pulls xAPI statements from the LRS (`since` the last watermark, following `more`
links, never past `X-Experience-API-Consistent-Through`) and the LMS REST completions export
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

**Rerun safely**: every step is idempotent (statements dedupe by id; the watermark advances only in the
merge transaction). Clearing any task, or the whole run, adds nothing the second time: a pull of a
window whose batch the gate refused re-stages that same batch, so its quarantine rows are written once.
"""


@task(map_index_template=TENANT_MAP_INDEX)
def extract_and_stage(tenant_id: str, params: dict | None = None, run_id: str | None = None) -> dict:
    """Pull both sources after their watermarks and COPY them into one staged batch."""
    label_tenant(tenant_id)
    from credsync.hooks.lms import LmsHook
    from credsync.hooks.lrs import LrsHook
    from credsync.learning.pull import LMS_STREAM, LRS_STREAM, current_watermark, stage_pull
    from credsync.tenants import load_tenants
    from credsync.warehouse import connect, url_from_connection

    tenant = next(t for t in load_tenants() if t.tenant_id == tenant_id)
    with connect(url_from_connection(WAREHOUSE_CONN_ID), autocommit=True) as conn:
        full = bool((params or {}).get("full_pull"))
        lrs_since = None if full else current_watermark(conn, tenant_id, LRS_STREAM)
        lms_since = None if full else current_watermark(conn, tenant_id, LMS_STREAM)
        statements = LrsHook(tenant.conn_id("lrs"), tenant_id).pull_statements(lrs_since)
        completions = LmsHook(tenant.conn_id("lms"), tenant_id).export_completions(lms_since)
        batch, skipped = stage_pull(conn, tenant_id=tenant_id, statements=statements, lms_items=completions,
                                    dag_run_id=run_id)
    counts = {**batch.as_counts(), "skipped_in_progress": skipped,
              "watermarks": {".".join(LRS_STREAM): statements.watermark, ".".join(LMS_STREAM): completions.watermark}}
    return counts


@task(map_index_template=TENANT_MAP_INDEX)
def gate(staged: dict, params: dict | None = None) -> dict:
    """Great Expectations gate on the staged batch; a blocked batch fails this tenant only (no retry)."""
    label_tenant(staged["tenant_id"])
    from airflow.sdk.exceptions import AirflowFailException

    from credsync.learning.quality import BatchRejected, CompletionGateThresholds, gate_batch
    from credsync.warehouse import url_from_connection

    thresholds = CompletionGateThresholds(max_quarantine_share=float((params or {}).get("max_quarantine_share", 0.05)))
    try:
        result = gate_batch(url_from_connection(WAREHOUSE_CONN_ID), tenant_id=staged["tenant_id"],
                            batch_id=staged["batch_id"], thresholds=thresholds)
    except BatchRejected as exc:
        raise AirflowFailException(str(exc)) from exc
    return {**staged, "gate": result.summary}


@task(map_index_template=TENANT_MAP_INDEX, outlets=[COMPLETIONS])
def merge(validated: dict) -> dict:
    """Merge into core.completions, hold unknown people, apply voids, advance watermarks; one transaction."""
    label_tenant(validated["tenant_id"])
    from credsync.learning.merge import merge_completions
    from credsync.warehouse import connect, url_from_connection

    watermarks = {tuple(k.split(".", 1)): v for k, v in validated["watermarks"].items() if v}
    with connect(url_from_connection(WAREHOUSE_CONN_ID), autocommit=True) as conn:
        result = merge_completions(conn, tenant_id=validated["tenant_id"], batch_id=validated["batch_id"],
                                   watermarks=watermarks)
    return {k: v for k, v in validated.items() if k not in ("gate", "watermarks")} | result.as_counts()


@task_group
def pull_tenant(tenant_id: str) -> None:
    """One tenant's chain; a mapped group, so a blocked batch stops only its own tenant."""
    merge(gate(extract_and_stage(tenant_id)))


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
    },
)
def lms_completion_pull() -> None:
    tenants = enabled_tenants()
    check_warehouse_schema() >> tenants
    pull_tenant.expand(tenant_id=tenants)


lms_completion_pull()
