"""A human decision on one career-path eligibility case: approve (write it to the HRIS) or reject."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag

from credsync.careers.decide import APPROVAL_DAG_ID, APPROVAL_TIMEOUT, APPROVE, REJECT
from credsync.careers.tasks import approval_request, decide
from credsync.dagkit import DEFAULT_ARGS, check_warehouse_schema
from credsync.operators.careers import CareerPathApprovalOperator

DOC_MD = f"""
### Career-path approval (`{APPROVAL_DAG_ID}`)

**What**: when `career_path_eligibility` finds a worker newly meeting a career-path rule
(include/career_paths/career_paths_v1.yaml), it opens one case in `core.career_eligibility_cases`
and triggers this DAG with `tenant_id`, `case_id` and `ask`. The `approve` task waits in
**Required Actions** (UI: Browse → Required Actions, or the run's task) with the worker's employee
id, job, the rule, the credentials that met it and who should decide (their manager from the HRIS
`manager_id`, or the rule's HRBP group; a rule's `respondents` restrict who may answer). REST:
`GET`/`PATCH /api/v2/dags/{APPROVAL_DAG_ID}/dagRuns/<run>/taskInstances/approve/-1/hitlDetails`
with `{{"chosen_options": ["{APPROVE}"], "params_input": {{"reason": "…"}}}}`.
**Eligibility only: nothing is promoted or paid.**

**Steps**: `check_warehouse_schema` → `request` (skips when the case is no longer pending: withdrawn
because a prerequisite lapsed, or decided) → `approve` (HITL) → `decide`.

- **{APPROVE}** → `decide` records who and when, adds the grant to `core.career_eligibility` (what
  the talent marketplace sync reads) and writes it once to the HRIS profile
  (`PUT /api/v1/tenants/<t>/workers/<id>/career-eligibility/<eligible_for>`).
- **{REJECT}** (fill in `reason`) → recorded with the reason and who; the rule is not asked again
  for this worker until its `rule_version` changes.
- **No answer within {int(APPROVAL_TIMEOUT.total_seconds() // 3600)} h** → `approve` fails on the
  timeout, without retry (`CareerPathApprovalOperator`); `decide` expires the case; the next
  evaluation asks again (a new run, ask + 1).

**Rerun safely**: one run per case and ask (run id `career__<tenant>__<case>__<ask>`); a decided
case is never decided again; clearing `decide` after an approval whose HRIS write failed only
finishes the write (the body is the same, the HRIS records it once). Runbook: docs/runbook.md,
"Career-path eligibility".
"""


@dag(
    dag_id=APPROVAL_DAG_ID,
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=32,
    default_args=DEFAULT_ARGS,
    doc_md=DOC_MD,
    tags=["credsync", "careers", "hris", "approval"],
    params={
        "tenant_id": Param(None, type=["null", "string"], description="Tenant of the eligibility case."),
        "case_id": Param(None, type=["null", "string"], description="core.career_eligibility_cases case_id."),
        "ask": Param(None, type=["null", "integer"], description="Which ask of the case this run is (null: current)."),
    },
)
def career_path_approval() -> None:
    case = approval_request.override(task_id="request")()
    check_warehouse_schema() >> case
    approve = CareerPathApprovalOperator(
        task_id="approve",
        subject=case["subject"],
        body=case["body"],
        respondents=case["respondents"],
        options=[APPROVE, REJECT],
        params={"reason": Param("", type="string", description="Why (required to reject).")},
        response_timeout=APPROVAL_TIMEOUT,
    )
    approve >> decide()


career_path_approval()
