"""SCIM provisioning: make each tenant's LMS users match core.workers."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from airflow.sdk import Param, dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from credsync.dagkit import (
    DEFAULT_ARGS,
    LEARNERS,
    TENANT_MAP_INDEX,
    WORKERS,
    check_warehouse_schema,
    enabled_tenants,
    tenant_task,
)
from credsync.operators.groups import GroupPushOperator
from credsync.operators.scim import SCIM_POOL, ScimProvisionOperator
from credsync.people.guard_steps import APPROVAL_DAG_ID

if TYPE_CHECKING:
    from credsync.tenants import Tenant


@task
def release_quarantines(params: dict | None = None, run_id: str | None = None) -> list[str]:
    """Lift the quarantine of the tenants named in ``release_quarantine`` (the documented release)."""
    from credsync.dagkit import WAREHOUSE_CONN_ID
    from credsync.people.guard_steps import release_quarantines as release
    from credsync.warehouse import url_from_connection

    return release(url_from_connection(WAREHOUSE_CONN_ID), list((params or {}).get("release_quarantine") or []),
                   run_id)


@tenant_task(trigger_rule="all_done")
def ask_approval(tenant: Tenant, run_id: str | None = None) -> None:
    """Trigger scim_change_approval for the change set this run staged for the tenant (else skipped).

    Triggers the way TriggerDagRunOperator does (its DagRunTriggerException, handled by the task
    runner); importing that operator would cost this file most of its 2 s parse budget.
    """
    from airflow.sdk.exceptions import AirflowSkipException, DagRunTriggerException

    from credsync.dagkit import WAREHOUSE_CONN_ID
    from credsync.people.guard_steps import approval_trigger
    from credsync.warehouse import url_from_connection

    trigger = approval_trigger(url_from_connection(WAREHOUSE_CONN_ID), tenant.tenant_id, run_id)
    if trigger is None:
        raise AirflowSkipException(f"tenant {tenant.tenant_id}: no change set staged in this run")
    raise DagRunTriggerException(
        trigger_dag_id=APPROVAL_DAG_ID, dag_run_id=trigger["trigger_run_id"], conf=trigger["conf"],
        logical_date=None, run_after=None, reset_dag_run=False, skip_when_already_exists=True,
        wait_for_completion=False, allowed_states=["success"], failed_states=["failed"], poke_interval=60,
        deferrable=False)


@task(trigger_rule="all_done")
def guard_states(tenant_ids: list[str], run_id: str | None = None) -> dict:
    """Every tenant's guard state; fails (alert) when this run quarantined a SCIM target."""
    from airflow.sdk.exceptions import AirflowFailException

    from credsync.dagkit import WAREHOUSE_CONN_ID
    from credsync.people.guard_steps import NewQuarantine
    from credsync.people.guard_steps import guard_states as states
    from credsync.warehouse import url_from_connection

    try:
        return states(url_from_connection(WAREHOUSE_CONN_ID), tenant_ids, run_id)
    except NewQuarantine as exc:
        raise AirflowFailException(str(exc)) from None


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

**Groups** (`push_groups`, per tenant, after every tenant's `provision` and
`ask_approval`): the tenant's IdP groups and role claims
(connection `idp_<tenant>`, staged and GX-gated into `core.idp_claims`; none configured: HRIS
attributes only), then the group mapping `include/mappings/groups_v*.csv` → `core.group_memberships`,
then Okta-style Group Push: each group created empty, members changed only by PATCH add/remove by
value; groups that leave the mapping are released and left in the LMS (docs/groups.md). Trigger
with `full_group_push` to re-read every group from the LMS.

**Guards** (per tenant, `provisioning` in include/tenants.yaml; docs/runbook.md):
- *Effective dates*: a termination, hire, rehire, leave, return or transfer dated after today
  (tenant `timezone`) is held (`core.held_changes`) and applied by the first run on its date,
  without a new export.
- *Brake*: more deactivations than the tenant's brake allows are not sent: they are staged and
  `ask_approval` triggers `{APPROVAL_DAG_ID}` (Required Actions: Approve/Reject); the tenant's other
  changes, and the other tenants, go on. Mass group removals (`push_groups`) are braked the same way;
  `push_groups` triggers the approval itself.
- *Failure budget*: once a run made `min_sample` SCIM writes and more than `max_failure_share`
  failed, the tenant is quarantined (`core.provisioning_quarantine`): skipped until its back-off
  elapses, then probed. `guard_states` fails (the alert) in the run that quarantined it and lists
  every tenant's state. Release at once: trigger with `release_quarantine: [<tenant>]`, or
  `python -m credsync.people.budget release --url … --tenant … --by …`.

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
        "release_quarantine": Param([], type="array", items={"type": "string"},
                                    description="Tenants whose quarantined SCIM target to release before "
                                                "provisioning (the target answers again)."),
        "full_group_push": Param(False, type="boolean",
                                 description="Re-read every managed group from the LMS, not only changed ones."),
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
    check_warehouse_schema() >> release_quarantines() >> provision
    # all_done: one tenant's failed provisioning must not keep another's staged set from its approval.
    approvals = ask_approval.expand(tenant_id=enabled_tenants.override(task_id="tenants_for_approval")())
    provision >> approvals
    provision >> guard_states(enabled_tenants.override(task_id="tenants_for_guard_states")())
    # After ask_approval (all_done over every tenant's provision): the brake's staged sets exist by
    # then, so a worker whose deactivation waits for a decision keeps their groups; all_done, because
    # ask_approval is skipped for a tenant with nothing staged, and a tenant whose provisioning partly
    # failed still gets its groups (members without an account wait).
    approvals >> GroupPushOperator.partial(
        task_id="push_groups",
        pool=SCIM_POOL,
        trigger_rule="all_done",
        full="{{ params.full_group_push }}",
        map_index_template=TENANT_MAP_INDEX,
    ).expand(tenant_id=enabled_tenants.override(task_id="tenants_for_groups")())


scim_provisioning()
