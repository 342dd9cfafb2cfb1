"""SCIM provisioning: make each tenant's LMS users match core.workers."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from credsync.dagkit import DEFAULT_ARGS, LEARNERS, TENANT_MAP_INDEX, WORKERS, check_warehouse_schema, enabled_tenants
from credsync.operators.scim import SCIM_POOL, ScimProvisionOperator

DOC_MD = f"""
### SCIM provisioning (`scim_provisioning`)

**What**: for every enabled tenant, diff `core.workers` against the LMS users (a full SCIM Users
listing keyed by `externalId` = employee_id, plus `core.learners`) and apply only the differences:
create, update (name, email, department, manager, title, enterprise extension), deactivate on
termination (and on leave unless `deactivate_on_leave` is false), reactivate on rehire — always the
same account. Before any create it looks the user up by externalId, so a retry or a lost response
never makes a second account. `userName` is the employee_id, never the email. Uses If-Match with the
server's ETags when ServiceProviderConfig announces them; honours 429 Retry-After.

**When**: on every update of the `core.workers` asset (from `hris_delta_export`) and hourly as a
safety net. An HRIS `worker.hired` / `worker.terminated` webhook (receiver:
`/credsync/hris/<tenant>/webhooks` on the api-server) triggers a `hris_delta_export` run, whose
update of `core.workers` triggers this DAG, so a termination reaches the LMS within minutes.

**Pool**: tasks run in the Airflow pool `{SCIM_POOL}` (create it: `airflow pools set {SCIM_POOL} 2
"SCIM API concurrency"`), which caps concurrent SCIM clients across DAGs and tenants.

**Outputs**: `core.learners` (account per worker), `core.scim_actions` (every write and its
outcome). Returns per tenant the counts per action (create/update/deactivate/reactivate/adopt),
`pushed` and `failed`. Emits `core.learners`.

**Rerun safely**: always. A rerun with nothing changed makes no SCIM writes; a run killed halfway
converges on rerun without duplicates.
"""


@dag(
    dag_id="scim_provisioning",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("45 * * * *", timezone="UTC"), assets=[WORKERS]),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=DOC_MD,
    tags=["credsync", "scim", "people"],
    params={
        "deactivate_on_leave": Param(True, type="boolean",
                                     description="Deactivate the LMS account while a worker is on leave."),
    },
)
def scim_provisioning() -> None:
    provision = ScimProvisionOperator.partial(
        task_id="provision",
        pool=SCIM_POOL,
        deactivate_on_leave="{{ params.deactivate_on_leave }}",
        map_index_template=TENANT_MAP_INDEX,
        outlets=[LEARNERS],
    ).expand(tenant_id=enabled_tenants())
    check_warehouse_schema() >> provision


scim_provisioning()
