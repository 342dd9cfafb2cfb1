"""recertification: daily expiry, registry revocation, compensating HRIS/payroll updates, reminders."""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag, task_group

from credsync.dagkit import (
    CREDENTIALS,
    DEFAULT_ARGS,
    SUBMISSIONS,
    WRITEBACKS,
    check_warehouse_schema,
    enabled_tenants,
)
from credsync.delivery.tasks import expire_and_remind, revoke_in_registry, write_back

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
2. **revoke_in_registry** (pool `registry_api`) — enqueues and sends the
   revocations through the same idempotent path as `registry_push`.
3. **write_back** — compensating HRIS profile updates ("... expired on
   2026-03-01") and payroll flags switched off with their end date; the dated
   payroll CSV under `payroll/<tenant>/` in the object store.

**Returns** per tenant: `{expired, reminders}`, the push counts, and the
write-back counts. Emits `core.credentials`, `core.registry_submissions`,
`core.writebacks`.

**Rerun safely**: every step compares before it writes; a second run on the
same day changes nothing and sends nothing. Failures that need a human are
in `audit.dead_letters`; replay them with `dlq_replay`.
"""


@task_group
def recertify_tenant(tenant_id: str) -> None:
    expired = expire_and_remind.override(outlets=[CREDENTIALS])(tenant_id)
    revoked = revoke_in_registry.override(outlets=[SUBMISSIONS])(tenant_id)
    written = write_back.override(outlets=[WRITEBACKS])(tenant_id)
    expired >> revoked >> written


@dag(
    dag_id="recertification",
    schedule=CronTriggerTimetable("0 3 * * *", timezone="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=DOC,
    tags=["credsync", "registry", "hris", "delivery"],
)
def recertification() -> None:
    tenants = enabled_tenants()
    check_warehouse_schema() >> tenants
    recertify_tenant.expand(tenant_id=tenants)


recertification()
