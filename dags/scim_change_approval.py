"""A human decision on a braked SCIM change set: approve (apply exactly the staged set) or reject."""

from __future__ import annotations

from datetime import datetime

from airflow.sdk import Param, dag, task

from credsync.dagkit import DEFAULT_ARGS, WAREHOUSE_CONN_ID, check_warehouse_schema
from credsync.operators.approval import ChangeSetApprovalOperator
from credsync.people.brake import APPROVE, REJECT
from credsync.people.guard_steps import APPROVAL_DAG_ID, APPROVAL_TIMEOUT

DOC_MD = f"""
### SCIM change approval (`{APPROVAL_DAG_ID}`)

**What**: when one `scim_provisioning` run would deactivate more of a tenant's LMS accounts than
the tenant's brake allows (`provisioning.brake` in include/tenants.yaml: more than `max_count`
*and* more than `max_share` of the active accounts), it sends none of them: it stages them as a
change set (`core.staged_change_sets`, `core.staged_changes`) and triggers this DAG with
`tenant_id` and `change_set_id`. Mass **group removals** are braked the same way: when one
`push_groups` run would remove more group memberships of active accounts than the brake allows
(count *and* share of the memberships credsync manages), the removals are staged as a set of kind
`groups` and `push_groups` triggers this DAG; approve PATCHes exactly the staged removals.
The `approve` task waits in **Required Actions** (UI: Browse → Required Actions, or the run's
task) with the staged list in its body. REST:
`GET`/`PATCH /api/v2/dags/{APPROVAL_DAG_ID}/dagRuns/<run>/taskInstances/approve/-1/hitlDetails`
with `{{"chosen_options": ["{APPROVE}"], "params_input": {{"reason": "…"}}}}`.

- **{APPROVE}** → `decide` sends exactly the staged SCIM resources (`active=false`, or PATCH remove
  per group), not a new diff;
  a worker core no longer wants inactive (rehired, corrected) is `superseded`, left as is.
- **{REJECT}** (fill in `reason`) → `decide` parks the set with the reason and who rejected it;
  the LMS and core are untouched, and later runs do not stage the same changes again.
- **No answer within {int(APPROVAL_TIMEOUT.total_seconds() // 3600)} h** → `approve` fails on the
  timeout, without retry (`ChangeSetApprovalOperator`); `decide` expires the set (nothing
  applied); the next provisioning run stages and asks again.

While a set is pending, provisioning sends no deactivation for that tenant; everything else
(and every other tenant) keeps provisioning. Runbook: docs/runbook.md, "A braked provisioning run".

**Rerun safely**: clearing `decide` after an approval sends only the changes without an outcome;
a decided set is never decided again. One run per change set (run id `approval__<tenant>__<set>`).
"""


@task
def request(params: dict | None = None) -> dict:
    """The staged list as the approval's subject and body; fails unless the set is pending."""
    from credsync.people.guard_steps import approval_request
    from credsync.warehouse import url_from_connection

    params = params or {}
    if not params.get("tenant_id") or not params.get("change_set_id"):
        raise ValueError("trigger with tenant_id and change_set_id (scim_provisioning does this for a braked run)")
    return approval_request(url_from_connection(WAREHOUSE_CONN_ID), params["tenant_id"], params["change_set_id"])


@task(trigger_rule="all_done", retries=2)
def decide(staged: dict, ti=None, run_id: str | None = None) -> dict:
    """Apply, park or expire the set as the human (or the timeout) decided."""
    from credsync.groups.brake import apply_group_change_set
    from credsync.hooks.scim import ScimHook
    from credsync.people.guard_steps import decide as carry_out
    from credsync.tenants import get_tenant
    from credsync.warehouse import url_from_connection

    answer = ti.xcom_pull(task_ids="approve") if ti is not None else None  # None: no answer (timed out)
    tenant = get_tenant(staged["tenant_id"])
    scim = ScimHook(tenant.conn_id("scim"), tenant.tenant_id).client()
    return carry_out(url_from_connection(WAREHOUSE_CONN_ID), scim, tenant_id=tenant.tenant_id,
                     change_set_id=staged["change_set_id"], hitl_result=answer, run_id=run_id,
                     apply_groups=apply_group_change_set)


@dag(
    dag_id=APPROVAL_DAG_ID,
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=16,
    default_args=DEFAULT_ARGS,
    doc_md=DOC_MD,
    tags=["credsync", "scim", "people", "approval"],
    params={
        "tenant_id": Param(None, type=["null", "string"], description="Tenant of the staged change set."),
        "change_set_id": Param(None, type=["null", "string"], description="core.staged_change_sets id."),
    },
)
def scim_change_approval() -> None:
    staged = request()
    check_warehouse_schema() >> staged
    approve = ChangeSetApprovalOperator(
        task_id="approve",
        subject=staged["subject"],
        body=staged["body"],
        options=[APPROVE, REJECT],
        params={"reason": Param("", type="string", description="Why (required to reject: incident, ticket).")},
        response_timeout=APPROVAL_TIMEOUT,
    )
    approve >> decide(staged)


scim_change_approval()
