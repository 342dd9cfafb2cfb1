"""marketplace_sync: keep the talent marketplace in agreement with credsync, per tenant with a marketplace profile."""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task_group

from credsync.dagkit import COMPLETIONS, CREDENTIALS, DEFAULT_ARGS, TENANT_MAP_INDEX, check_warehouse_schema
from credsync.marketplace.tasks import marketplace_profile, marketplace_tenants
from credsync.operators.marketplace import (
    MarketplaceBulkSyncOperator,
    MarketplaceEligibilityOperator,
    MarketplaceEventsOperator,
    MarketplaceReconcileOperator,
)

DOC = """
### marketplace_sync

Shares each worker's learning with the talent marketplace, as seed 001 maps it
(`include/mappings/marketplace_member_v1.csv`): member id (HRIS employee id; contractors and alumni
pseudonymised), normalised email, completions, scores, badges, enrollment states, certificate
references. Only tenants with a `marketplace:` block in `include/tenants.yaml` take part.

**Steps per tenant**: **marketplace_profile** reads and checks the profile; **initial_sync** (once per
tenant) exports every member as NDJSON with its sha256 to the object store, gates the file with GX
(suite `marketplace_export`) and imports it (one import per checksum); **events** PUTs changed
members and sends each new completion and badge award as a signed event (HMAC, ±300 s replay
window) under its own event id, until acknowledged; a refusal is dead-lettered (source
`marketplace`); **eligibility** PUTs each career-path eligibility granted in `core.career_eligibility`
(new or changed since the ledger `core.marketplace_eligibility` saw it) to the member (pseudonymised
like the member sync) under its own key until acknowledged; a refusal is dead-lettered (source
`marketplace`, reason `marketplace_<code>`, entity `eligibility:<case_id>`); **reconcile** runs the
reconciliations due (right after the initial sync, +24 h, then daily): members, learning records and
badges listed by cursor and compared, missing or different members PUT again, the rest flagged as
dead letters; drift and delivery success are recorded per day (`recon.marketplace_daily`) and gated
over 7 days (drift < 1 %, delivery > 99 %). A member the mapping refuses is quarantined
(`audit.quarantine`, stream `marketplace_member`).

**Connection** per tenant (`marketplace.conn`): login / password = the OAuth client id and secret,
extra `signing_secret` (signs the events), optional `scopes` per flow (bulk, members, events,
reconcile; **eligibility** uses the members flow's); each step asks for a token with its flow's
scopes only and revokes it at the end (issue, refresh and revocation are on the audit chain).

**Runs** when `core.completions` or `core.credentials` change (assets) and hourly at :35 as a safety net.

**Rerun safely**: clear any task at any time. The initial sync resumes its recorded file under the
same idempotency key; events are sent under their ids until acknowledged (a lost answer's resend
comes back `duplicate`); a grant is resent under its key until acknowledged (the marketplace replays
its first answer); a reconciliation runs once per kind and day. Gate breach or refusals:
docs/runbook.md, "Talent marketplace sync".
"""


@task_group
def sync_tenant(tenant_id: str) -> None:
    profile = marketplace_profile(tenant_id)
    conn_id = profile["conn_id"]
    initial = MarketplaceBulkSyncOperator(task_id="initial_sync", tenant_id=tenant_id, marketplace_conn_id=conn_id,
                                          map_index_template=TENANT_MAP_INDEX)
    events = MarketplaceEventsOperator(task_id="events", tenant_id=tenant_id, marketplace_conn_id=conn_id,
                                       map_index_template=TENANT_MAP_INDEX)
    eligibility = MarketplaceEligibilityOperator(task_id="eligibility", tenant_id=tenant_id,
                                                 marketplace_conn_id=conn_id, map_index_template=TENANT_MAP_INDEX)
    reconcile = MarketplaceReconcileOperator(task_id="reconcile", tenant_id=tenant_id, marketplace_conn_id=conn_id,
                                             map_index_template=TENANT_MAP_INDEX)
    profile >> initial >> events >> eligibility >> reconcile


@dag(
    dag_id="marketplace_sync",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("35 * * * *", timezone="UTC"),
                                 assets=(COMPLETIONS | CREDENTIALS)),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=DOC,
    tags=["credsync", "marketplace", "delivery"],
)
def marketplace_sync() -> None:
    tenants = marketplace_tenants()
    check_warehouse_schema() >> tenants
    sync_tenant.expand(tenant_id=tenants)


marketplace_sync()
