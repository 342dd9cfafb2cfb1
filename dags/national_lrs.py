"""national_lrs: forward learning records to the national LRS (NELC), per tenant with a national profile."""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task_group

from credsync.dagkit import COMPLETIONS, DEFAULT_ARGS, TENANT_MAP_INDEX, check_warehouse_schema
from credsync.national.tasks import national_profile, national_tenants
from credsync.operators.national_lrs import NationalLrsOperator

DOC = """
### national_lrs

Sends the learning records of learners with a Saudi National ID / Iqama to the national LRS as
NELC xAPI statements (docs/national.md): registered, attempted (attempt-id 1, 2...), progressed,
completed per course, earned per credential with `jws-certificate-location` = the learner's own
certificate URL. Only tenants with a `national:` profile in `include/tenants.yaml` take part.

**Steps per tenant**: **national_profile** reads and checks the profile; **forward_statements**
builds the statements from `core.completions` / `core.credentials`, checks each new one against
NELC's validation checklist (a violation is recorded `dead` and dead-lettered, source
`national_lrs`, reason = the rule, never sent), records it in `core.national_lrs_statements`,
gates the open ones with GX (suite `national_lrs_statements`), then sends them in order.

**Connection** per tenant (`national.lrs`): login / password = the key and secret NELC issued,
extra `region` (residency: a region the tenant's policy does not allow gets nothing).

**Runs** when `core.completions` changes (asset) and hourly at :45 as a safety net.

**Rerun safely**: clear at any time. A statement id is sent until acknowledged and stored once by
the LRS; one left `sent` by a lost answer is resent under the same id. The LRS stays down: the task
fails after recording progress, and its retry sends the rest. Refusals: docs/runbook.md,
"National LRS (NELC)".
"""


@task_group
def forward_tenant(tenant_id: str) -> None:
    profile = national_profile(tenant_id)
    profile >> NationalLrsOperator(task_id="forward_statements", tenant_id=tenant_id,
                                   national_lrs_conn_id=profile["lrs_conn_id"],
                                   map_index_template=TENANT_MAP_INDEX)


@dag(
    dag_id="national_lrs",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("45 * * * *", timezone="UTC"), assets=COMPLETIONS),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=DOC,
    tags=["credsync", "national", "delivery"],
)
def national_lrs() -> None:
    tenants = national_tenants()
    check_warehouse_schema() >> tenants
    forward_tenant.expand(tenant_id=tenants)


national_lrs()
