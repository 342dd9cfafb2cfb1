"""The GX suite for staged HRIS worker batches, built from include/quality/hris_workers.yaml."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credsync.ingest.gate import BatchGate, row_query
from credsync.paths import INCLUDE_DIR, sql_text

THRESHOLDS_FILE = INCLUDE_DIR / "quality" / "hris_workers.yaml"
STAGING_TABLE = "staging.hris_workers"
EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
REQUIRED_COLUMNS = (
    "employee_id", "source_system", "given_name", "family_name",
    "employment_status", "employment_type", "source_updated_at", "mapping_version",
)  # fmt: skip


class ThresholdsError(ValueError):
    """The thresholds file is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class WorkerGateThresholds:
    suite_name: str
    max_termination_share: float
    volume_check_min_workforce: int
    email_format_mostly: float
    allowed_statuses: tuple[str, ...]
    allowed_employment_types: tuple[str, ...]
    earliest_hire_date: str
    max_hire_days_ahead: int
    max_quarantine_share: float = 0.05
    quarantine_share_min_records: int = 20
    ignored_source_fields: tuple[str, ...] = ()


def load_thresholds(path: Path = THRESHOLDS_FILE) -> WorkerGateThresholds:
    """Read and validate the gate thresholds."""
    from datetime import date

    import yaml

    raw: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}

    def get(key: str, kind: type, default: Any = None) -> Any:
        value = raw.get(key, default)
        if value is None:
            raise ThresholdsError(f"{path}: key {key!r} is required")
        try:
            return kind(value)
        except (TypeError, ValueError):
            raise ThresholdsError(f"{path}: key {key!r} must be {kind.__name__}, got {value!r}") from None

    share = get("max_termination_share", float, 0.2)
    if not 0 < share <= 1:
        raise ThresholdsError(f"{path}: key 'max_termination_share' must be in (0, 1], got {share}")
    mostly = get("email_format_mostly", float, 1.0)
    if not 0 < mostly <= 1:
        raise ThresholdsError(f"{path}: key 'email_format_mostly' must be in (0, 1], got {mostly}")
    quarantine_share = get("max_quarantine_share", float, 0.05)
    if not 0 <= quarantine_share < 1:
        raise ThresholdsError(f"{path}: key 'max_quarantine_share' must be in [0, 1), got {quarantine_share}")
    earliest = str(get("earliest_hire_date", str, "1900-01-01"))
    try:
        date.fromisoformat(earliest)
    except ValueError:
        raise ThresholdsError(f"{path}: key 'earliest_hire_date' must be YYYY-MM-DD, got {earliest!r}") from None
    return WorkerGateThresholds(
        suite_name=get("suite_name", str, "hris_workers"),
        max_termination_share=share,
        volume_check_min_workforce=get("volume_check_min_workforce", int, 10),
        email_format_mostly=mostly,
        allowed_statuses=tuple(get("allowed_statuses", list, ["active", "leave", "terminated"])),
        allowed_employment_types=tuple(get("allowed_employment_types", list, ["employee", "contractor"])),
        earliest_hire_date=earliest,
        max_hire_days_ahead=get("max_hire_days_ahead", int, 366),
        max_quarantine_share=quarantine_share,
        quarantine_share_min_records=get("quarantine_share_min_records", int, 20),
        ignored_source_fields=tuple(str(f) for f in get("ignored_source_fields", list, [])),
    )


def worker_expectations(thresholds: WorkerGateThresholds) -> list[Any]:
    """The GX expectations a staged worker batch must meet; each carries ``meta.rule`` for the log."""
    import great_expectations as gx

    ex = gx.expectations
    items: list[Any] = [
        ex.ExpectColumnValuesToBeUnique(column="employee_id", meta={"rule": "unique_employee_id"}),
        *[
            ex.ExpectColumnValuesToNotBeNull(column=column, meta={"rule": f"required_{column}"})
            for column in REQUIRED_COLUMNS
        ],
        ex.ExpectColumnValuesToMatchRegex(
            column="work_email", regex=EMAIL_REGEX, mostly=thresholds.email_format_mostly,
            meta={"rule": "email_format"},
        ),
        ex.ExpectColumnValuesToBeInSet(
            column="employment_status", value_set=list(thresholds.allowed_statuses),
            meta={"rule": "status_allowed"},
        ),
        ex.ExpectColumnValuesToBeInSet(
            column="employment_type", value_set=list(thresholds.allowed_employment_types),
            meta={"rule": "employment_type_allowed"},
        ),
        ex.UnexpectedRowsExpectation(
            unexpected_rows_query=row_query("people/gx_dates_sane.sql").substitute(
                earliest_hire_date=thresholds.earliest_hire_date,
                max_hire_days_ahead=int(thresholds.max_hire_days_ahead),
            ),
            description="employment dates are plausible and consistent",
            meta={"rule": "dates_sane"},
        ),
        ex.UnexpectedRowsExpectation(
            unexpected_rows_query=row_query("people/gx_termination_share.sql").substitute(
                max_share=float(thresholds.max_termination_share),
                min_workforce=int(thresholds.volume_check_min_workforce),
            ),
            description=(
                f"delta terminates at most {thresholds.max_termination_share:.0%} of the current workforce"
            ),
            meta={"rule": "mass_termination"},
        ),
    ]
    return items


def worker_gate(thresholds: WorkerGateThresholds | None = None) -> BatchGate:
    """The HRIS worker gate (``credsync.ingest.gate.gate_batch``): before GX (which cannot judge an empty
    staged batch) the batch itself is checked — schema drift found while staging, and the share of its
    records quarantined and not parked (a batch whose every record is quarantined is always blocked)."""
    thresholds = thresholds or load_thresholds()
    return BatchGate(
        suite_name=thresholds.suite_name, table=STAGING_TABLE, sql_dir="people",
        expectations=lambda: worker_expectations(thresholds),
        batch_checks=lambda conn, tenant_id, batch_id: batch_checks(
            conn, tenant_id=tenant_id, batch_id=batch_id, thresholds=thresholds),
    )


def batch_checks(
    conn: Any, *, tenant_id: str, batch_id: str, thresholds: WorkerGateThresholds, examples: int = 5
) -> tuple[list[str], dict[str, Any]]:
    """The HRIS gate's checks on the batch as a whole: schema drift and the quarantine share.

    Returns (failure lines for the log, details for the validation JSON). A
    share over ``max_quarantine_share`` blocks once the batch has
    ``quarantine_share_min_records`` records; a batch with no staged record
    and some unparked quarantine blocks at any size (nothing of it would load,
    yet the watermark would pass it).
    """
    row = conn.execute(sql_text("people/gate_batch_counts.sql"),
                       {"batch_id": batch_id, "tenant_id": tenant_id}).fetchone()
    if row is None:
        raise LookupError(f"batch {batch_id} of tenant {tenant_id} does not exist")
    records_in, staged, drift, unparked, parked = row
    share = unparked / records_in if records_in else 0.0
    details: dict[str, Any] = {"records_in": records_in, "staged": staged, "quarantined_unparked": unparked,
                               "parked": parked, "quarantine_share": round(share, 4),
                               "max_quarantine_share": thresholds.max_quarantine_share, "schema_drift": drift}
    failures: list[str] = []
    if drift and drift.get("blocking"):
        from credsync.people.drift import SchemaDrift

        failures.append(SchemaDrift(**drift).reason() + " (fix the export or the mapping; parking cannot help)")
    over_share = share > thresholds.max_quarantine_share and records_in >= thresholds.quarantine_share_min_records
    nothing_loads = unparked > 0 and staged == 0
    if over_share or nothing_loads:
        listed = conn.execute(sql_text("people/quarantine_examples.sql"), {"batch_id": batch_id, "n": examples})
        named = ", ".join(f"{key} ({rule}: {_clip(reason)})" for key, rule, reason in listed)
        why = (f"share {share:.2f} > {thresholds.max_quarantine_share}" if over_share
               else "no record of the batch would load")
        failures.append(f"quarantine_share: {unparked} of {records_in} records quarantined and not parked "
                        f"({why}), e.g. {named}")
    return failures, details


def _clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
