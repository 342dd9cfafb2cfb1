"""retention: purge or pseudonymise expired personal data, per the mappings' retention policies."""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag

from credsync.dagkit import DEFAULT_ARGS, check_warehouse_schema, enabled_tenants
from credsync.governance.retention_tasks import apply_retention_policies, check_retention_policies

DOC = """
### retention

Enforces the `retention_policy` column of the HRIS, LMS and xAPI mappings (`include/mappings/`;
format in docs/governance.md, "Retention"), as of the run's logical date.

**Steps**: check the warehouse schema; **check_retention_policies** parses every policy and fails
the run (no retry) when one is unparseable or two mappings disagree on what happens to a worker:
the error names the mapping file, row and rule. Then per tenant (mapped, one tenant's failure
never holds up another) **apply_retention_policies**:
- `staging:` expired raw batch rows (`staging.hris_workers`, `staging.completions`) deleted;
- `audit:` the quarantined copies (`audit.quarantine.record`) of those batches cleared;
- core `termination + N`: each worker terminated (not rehired) longer ago is erased or
  pseudonymised everywhere through the erasure path, audit payloads tombstoned;
- core `completion + N`: expired completions deleted or pseudonymised, their audit payloads
  tombstoned. The audit chain stays verifiable (`python -m credsync.audit verify`).

**Outputs**: a row per tenant and run in `audit.retention_runs` (counts per table and action),
the JSON report under `retention/<tenant>/<run_id>.json` in the object store
(`CREDSYNC_RETENTION_REPORT_STORE` overrides), a `retention.applied` audit event when anything
changed.

**Runs** daily 02:30 UTC; by hand any time.

**Rerun safely**: only what is expired and not yet handled is selected, so a rerun (or a second run
the same day) changes nothing and reports zero (docs/runbook.md, "Retention").
"""


@dag(
    dag_id="retention",
    schedule=CronTriggerTimetable("30 2 * * *", timezone="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=DOC,
    tags=["credsync", "governance", "retention"],
)
def retention() -> None:
    policies = check_retention_policies()
    check_warehouse_schema() >> policies
    apply_retention_policies.partial(policies=policies).expand(tenant_id=enabled_tenants())


retention()
