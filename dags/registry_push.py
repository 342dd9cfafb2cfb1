"""registry_push: push credentials to the national registry (issue and revoke), per tenant."""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task_group

from credsync.dagkit import (
    CREDENTIALS,
    DEFAULT_ARGS,
    SUBMISSIONS,
    TENANT_MAP_INDEX,
    check_warehouse_schema,
    enabled_tenants,
)
from credsync.operators.notifications import RegistryNotifyOperator
from credsync.operators.registry import RegistryPushOperator

DOC = """
### registry_push

Registers every new credential with the national registry and revokes the
ones that expired or were revoked.

**Runs** when `core.credentials` changes (asset), and hourly as a safety net.

**Steps per tenant** (mapped, pool `registry_api` so all tenants together stay
under the registry's rate limit):
1. enqueue `issue` submissions for active credentials not yet submitted and
   `revoke` submissions for expired/revoked ones the registry holds;
2. push issues through `POST /v1/certificates/batch` (≤100 per request), then
   revocations; every HTTP attempt lands in `core.registry_attempts`;
3. **notify_registry**: a signed `credential.issued` / `credential.revoked`
   notification per acknowledged write (`POST /v1/notifications`, GX gate
   `registry_notifications` on the batch first; docs/registry.md), recorded in
   `core.registry_notifications`; refused ones go to `audit.dead_letters`
   (source `registry_notification`).

**Inputs**: `core.credentials`, `core.workers` (name only),
`include/mappings/registry_certificate_v1.csv` (the only fields that leave),
connection `registry_national` (login = client_id, password = client_secret).

**Outputs**: `core.registry_submissions` (pending → sent → acknowledged | dead),
`audit.dead_letters` (source `registry`: 4xx validation answers with the
registry's body, unmappable credentials), `audit.events`. Emits asset
`core.registry_submissions`. Returns per tenant
`{enqueued, sent, acknowledged, dead, remaining, requests}`.

**Rerun safely**: clear the task (or the run) at any time. Idempotency keys
are `cs-<credential_id>-v<version>-<operation>`; a submission left `sent` by a
killed task is re-sent under the same key and the registry replays its answer
(or answers 409 with the existing id). A task fails only when the registry
stays unavailable past the retry budget; its progress is kept.
Dead letters: fix the data, then trigger `dlq_replay`.
"""


@dag(
    dag_id="registry_push",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("15 * * * *", timezone="UTC"),
                                 assets=CREDENTIALS),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=DOC,
    tags=["credsync", "registry", "delivery"],
)
def registry_push() -> None:
    tenants = enabled_tenants()
    check_warehouse_schema() >> tenants
    push_tenant.expand(tenant_id=tenants)


@task_group
def push_tenant(tenant_id: str) -> None:
    pushed = RegistryPushOperator(task_id="push_submissions", tenant_id=tenant_id, outlets=[SUBMISSIONS],
                                  map_index_template=TENANT_MAP_INDEX)
    pushed >> RegistryNotifyOperator(task_id="notify_registry", tenant_id=tenant_id,
                                     map_index_template=TENANT_MAP_INDEX)


registry_push()
