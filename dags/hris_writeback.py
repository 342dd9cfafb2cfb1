"""hris_writeback: certification status onto HRIS profiles, payroll flags via API and dated CSV."""

from __future__ import annotations

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag

from credsync.dagkit import (
    CREDENTIALS,
    DEFAULT_ARGS,
    SUBMISSIONS,
    WRITEBACKS,
    check_warehouse_schema,
    enabled_tenants,
)
from credsync.delivery.tasks import write_back

DOC = """
### hris_writeback

Tells each tenant's HRIS what credsync knows about its workers' credentials.

**Runs** when `core.credentials` or `core.registry_submissions` change
(assets) and daily at 04:00 UTC as a safety net.

**Per tenant** (mapped): for every worker and credential type, the current
credential gives
- an HRIS profile line in plain language ("CPR & AED certification active
  until 2027-03-30") with machine fields (`status`, `valid_from`,
  `valid_until`, `credential_id`, `updated_at`) —
  `PUT /api/v1/tenants/{t}/workers/{id}/certifications/{type}`;
- for `pay_impact` credentials only, a payroll flag active only while the
  credential is, with effective dates —
  `PUT .../payroll-flags/{type}` — and the whole day's picture as
  `payroll/<tenant>/payroll_flags_<YYYY-MM-DD>.csv` in the object store
  (`$CREDSYNC_OBJECT_STORE`; `$CREDSYNC_PAYROLL_STORE` or
  `writeback.payroll_csv_dir` in `include/delivery.yaml` put it elsewhere)
  for payroll systems without an API.

**Inputs**: `core.credentials`; the tenant's `hris` connection (password =
Bearer token). **Outputs**: `core.writebacks` (hash of what was delivered),
`audit.events`, `audit.dead_letters` (source `hris_writeback`, e.g. a worker
unknown to the HRIS). Returns `{considered, delivered, unchanged, dead,
pending, payroll_csv, payroll_rows}`. Emits `core.writebacks`.

**Rerun safely**: only content whose hash changed is sent; the PUTs are
upserts; the CSV is rewritten atomically with the same bytes.
"""


@dag(
    dag_id="hris_writeback",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 4 * * *", timezone="UTC"),
                                 assets=(CREDENTIALS | SUBMISSIONS)),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=DOC,
    tags=["credsync", "hris", "payroll", "delivery"],
)
def hris_writeback() -> None:
    tenants = enabled_tenants()
    check_warehouse_schema() >> tenants
    write_back.override(outlets=[WRITEBACKS]).expand(tenant_id=tenants)


hris_writeback()
