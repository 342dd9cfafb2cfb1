"""career_path_eligibility: find workers newly meeting a career-path rule and ask for each approval."""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task_group

from credsync.careers.tasks import evaluate, load_rules
from credsync.dagkit import CREDENTIALS, DEFAULT_ARGS, TENANT_MAP_INDEX, check_warehouse_schema, enabled_tenants
from credsync.operators.careers import AskCareerApprovalOperator, CareerEligibilityWritebackOperator

DOC = """
### career_path_eligibility

Seed 002: *automate eligibility and workflow initiation, not promotions*. Rules in
`include/career_paths/career_paths_v1.yaml` (credential types, active/not expired/not revoked,
prerequisite credentials, minimum tenure, job family = HRIS department, approver) are evaluated
over `core.credentials` and `core.workers`; each (tenant, worker, rule, rule version) gets exactly
one case in `core.career_eligibility_cases`, decided by a human in `career_path_approval`.

**Steps**: `check_warehouse_schema` → `load_rules` (a bad rules file fails here, naming rule and
field, without retry) → per tenant (mapped, labelled with the tenant) **evaluate**: set-based SQL
opens a case for each newly met rule, reopens one that expired unanswered or was withdrawn and is
met again, **withdraws** a pending case whose prerequisite expired or was revoked (reason
recorded), and records a **review** (`core.career_eligibility_reviews`) for a granted one — never
demotes; **ask_approval** triggers one `career_path_approval` run per pending case with the case's
run id (`career__<tenant>__<case>__<ask>`; at most 500 a run, the rest the next run); then
**write_eligibility** resends approved eligibility the HRIS has not taken yet.

**Runs** when `core.credentials` changes (asset) and daily at 05:30 UTC (tenure is reached by the
calendar, expiry dates pass without a credentials change). Param `as_of` (date) evaluates as of
another day.

**Rerun safely**: clear at any time. A met rule opens its case once; a pending case's approval run
id is derived from the case and ask, and a run that exists is skipped, so a rerun starts nothing
new; rejected cases are not asked again for the same rule version; the HRIS write is an upsert of
an identical body. Runbook: docs/runbook.md, "Career-path eligibility".
"""


@task_group
def evaluate_tenant(tenant_id: str) -> None:
    asks = evaluate(tenant_id)
    ask = AskCareerApprovalOperator(task_id="ask_approval", tenant_id=tenant_id, asks=asks,
                                    map_index_template=TENANT_MAP_INDEX)
    ask >> CareerEligibilityWritebackOperator(task_id="write_eligibility", tenant_id=tenant_id,
                                              map_index_template=TENANT_MAP_INDEX)


@dag(
    dag_id="career_path_eligibility",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("30 5 * * *", timezone="UTC"),
                                 assets=CREDENTIALS),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=DOC,
    tags=["credsync", "careers", "hris"],
    params={"as_of": Param(None, type=["null", "string"],
                           description="Evaluate as of this date (empty: today, UTC).")},
)
def career_path_eligibility() -> None:
    rules = load_rules()
    tenants = enabled_tenants()
    check_warehouse_schema() >> rules >> tenants
    evaluate_tenant.expand(tenant_id=tenants)


career_path_eligibility()
