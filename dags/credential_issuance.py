"""DAG credential_issuance: core.completions + credential rules → signed credentials (per tenant)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from credsync.dagkit import (
    COMPLETIONS,
    CREDENTIALS,
    DEFAULT_ARGS,
    WAREHOUSE_CONN_ID,
    check_warehouse_schema,
    enabled_tenants,
    tenant_task,
)

if TYPE_CHECKING:
    from credsync.tenants import Tenant

DOC = """
### Credential issuance

**What**: per tenant, evaluates `include/mappings/credential_rules.csv` against `core.completions` in SQL
(set-based), then: revokes active credentials whose evidence was voided (`evidence_voided`), issues new
ones, renews within the rule's window (the old one becomes `revoked`/`superseded`, the new one links to it
via `previous_credential_id`), gives each new credential a random index in its issuer's revocation status
list, and signs each as an Open Badges 3.0 `AchievementCredential` (VC 2.0, `vc+jwt`) by the tenant's
did:web issuer (see `docs/credentials.md`). After the commit it publishes the issuer's DID document and every
status list whose bits changed (revocations and supersessions of this run) to the object store.
Terminated workers get nothing; a completion whose credential would already be expired is recorded as
`skipped_expired`, never issued active. Every decision lands in `core.credential_decisions` with the rule
version and evidence; every issuance/revocation appends an `audit.events` entry.

**Inputs**: `core.completions`, `core.workers`, the rules CSV (validated at load: errors name file, row,
field), connection `credsync_signing_key` (password = private Ed25519 JWK: a new JWK there is a key
rotation), `CREDSYNC_ISSUER_BASE_URL` (the issuers' web origin).

**Outputs**: `core.credentials`, `core.credential_decisions`, `core.credential_status`, `audit.events`;
`did-web/issuers/<tenant>/did.json` and `…/status/revocation-<n>` in the object store; emits
`core.credentials`. XCom `published` says what was rewritten.

**Rerun safely**: a credential is issued once per evidence set and a status index allocated once, and files
are rewritten only when they changed, so rerunning (or clearing) changes nothing unless completions changed;
a publish that failed after the commit is redone by the rerun. A retired signing key fails the task with
"retired … put the new private JWK in the signing key connection" (runbook: *Credential keys and status
lists*). `as_of` (YYYY-MM-DD) replays a decision date for investigations.
"""


@task
def validate_rules() -> int:
    """Load and validate the rules once per run, so a bad CSV fails fast with file/row/field."""
    from credsync.credentials.rules import load_rules

    return len(load_rules())


@tenant_task(outlets=[CREDENTIALS])
def issue(tenant: Tenant, params: dict | None = None, run_id: str | None = None) -> dict:
    """Evaluate the rules for one tenant and sign what is issued; returns counts."""
    from datetime import date

    from credsync.audit.store import checkpoint_tenant
    from credsync.credentials.issuance import issue_credentials
    from credsync.credentials.keys import signing_key_from_connection
    from credsync.credentials.rules import load_rules
    from credsync.warehouse import connect, url_from_connection

    as_of = (params or {}).get("as_of") or None
    warehouse_url = url_from_connection(WAREHOUSE_CONN_ID)
    with connect(warehouse_url, autocommit=True) as conn:
        result = issue_credentials(
            conn, tenant_id=tenant.tenant_id, rules=load_rules(), signing_key=signing_key_from_connection(),
            as_of=date.fromisoformat(as_of) if as_of else None, run_id=run_id,
        )
    checkpoint_tenant(warehouse_url, tenant.tenant_id)  # sign the audit chain head outside the warehouse
    return result.as_counts()


@dag(
    dag_id="credential_issuance",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("30 2 * * *", timezone="UTC"), assets=COMPLETIONS),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    dagrun_timeout=timedelta(hours=2),
    doc_md=DOC,
    tags=["credsync", "credentials"],
    params={
        "as_of": Param(None, type=["null", "string"], format="date",
                       description="Evaluate as of this UTC date (default: today)"),
    },
)
def credential_issuance() -> None:
    ready = check_warehouse_schema() >> validate_rules()
    tenants = enabled_tenants()
    ready >> tenants
    issue.expand(tenant_id=tenants)


credential_issuance()
