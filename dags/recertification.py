"""recertification: daily expiry, registry revocation, compensating HRIS/payroll updates, reminders."""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, Param, dag, task_group

from credsync.dagkit import (
    CREDENTIALS,
    DEFAULT_ARGS,
    SUBMISSIONS,
    TENANT_MAP_INDEX,
    WRITEBACKS,
    check_warehouse_schema,
    enabled_tenants,
)
from credsync.delivery.tasks import (
    check_status_request,
    expire_and_remind,
    revoke_in_registry,
    update_credential_status,
    write_back,
)
from credsync.operators.notifications import RegistryNotifyOperator

DOC = """
### recertification

Daily. For each tenant (a mapped task group, so one tenant's failure never
holds up another):

1. **expire_and_remind** — active credentials whose `expiry_date` is before
   the run's date become `expired` (never deleted; `status_reason`
   says when); the reminder due for each credential still active is recorded
   once in `core.expiry_reminders` (days per credential type from
   `reminder_days` in `include/mappings/credential_rules.csv`, default
   `reminders.default_days` in `include/delivery.yaml`).
2. **update_credential_status** — the run's manual changes (params below),
   then the HRIS leave holds: each active credential of a worker on leave is
   suspended, and the hold is lifted when the HRIS shows the worker active
   again (a manual hold stays until a manual unsuspend). Every change is an
   audit event with its reason. Then the issuer's revocation and suspension
   status lists whose bits changed are re-signed and republished (ttl and
   Cache-Control: 5 minutes).
3. **revoke_in_registry** (pool `registry_api`) — enqueues and sends the
   revocations through the same idempotent path as `registry_push`; then
   **notify_registry** sends the signed `credential.revoked` notifications.
4. **write_back** — compensating HRIS profile updates ("... expired on
   2026-03-01") and payroll flags switched off with their end date; the dated
   payroll CSV under `payroll/<tenant>/` in the object store.

**Params** (all empty on the schedule; trigger with them to act by hand,
docs/runbook.md "Suspending, unsuspending or revoking a credential"):
`revoke`, `suspend`, `unsuspend` — credential ids; `reason` — required with
any id, recorded in the audit log. **check_status_request** refuses the whole
request before anything changes when a reason is missing, an id is unknown,
one id is under two actions, or it would suspend or unsuspend a revoked
credential: revocation is final and cannot be undone.

**Returns** per tenant: `{expired, reminders}`, the push counts, and the
write-back counts. Emits `core.credentials`, `core.registry_submissions`,
`core.writebacks`.

**Rerun safely**: every step compares before it writes; a second run on the
same day changes nothing and sends nothing. Failures that need a human are
in `audit.dead_letters`; replay them with `dlq_replay`.
"""

UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


@task_group
def recertify_tenant(tenant_id: str) -> None:
    expired = expire_and_remind.override(outlets=[CREDENTIALS])(tenant_id)
    status = update_credential_status.override(outlets=[CREDENTIALS])(tenant_id)
    revoked = revoke_in_registry.override(outlets=[SUBMISSIONS])(tenant_id)
    written = write_back.override(outlets=[WRITEBACKS])(tenant_id)
    expired >> status >> revoked >> written
    # The registry is told of each revocation by a signed notification too (docs/registry.md).
    revoked >> RegistryNotifyOperator(task_id="notify_registry", tenant_id=tenant_id,
                                      map_index_template=TENANT_MAP_INDEX)


@dag(
    dag_id="recertification",
    schedule=CronTriggerTimetable("0 3 * * *", timezone="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=DOC,
    tags=["credsync", "registry", "hris", "delivery"],
    params={
        "revoke": Param([], type=["null", "array"], items={"type": "string", "pattern": UUID_PATTERN},
                        description="Credential ids to revoke (final: a revocation is never undone)."),
        "suspend": Param([], type=["null", "array"], items={"type": "string", "pattern": UUID_PATTERN},
                         description="Credential ids to put on hold until a manual unsuspend."),
        "unsuspend": Param([], type=["null", "array"], items={"type": "string", "pattern": UUID_PATTERN},
                           description="Credential ids whose hold (manual or HRIS leave) is lifted."),
        "reason": Param(None, type=["null", "string"], maxLength=500,
                        description="Why: required with any id, recorded in the audit log with each change."),
    },
)
def recertification() -> None:
    tenants = enabled_tenants()
    schema = check_warehouse_schema()
    schema >> tenants
    request = check_status_request()
    schema >> request
    request >> recertify_tenant.expand(tenant_id=tenants)


recertification()
