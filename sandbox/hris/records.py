"""The records the HRIS accepts and serves, and their flat CSV form.

Pydantic models validate what clients send (admin worker PUTs, write-backs);
stored workers are plain JSON documents in the contract shape.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Name(_Strict):
    given: str
    family: str
    preferred: str | None = None


class Emails(_Strict):
    work: str | None = None
    personal: str | None = None


class Employment(_Strict):
    status: Literal["active", "leave", "terminated"]
    type: Literal["employee", "contractor"]
    hire_date: date
    termination_date: date | None = None
    rehire_date: date | None = None
    department: str | None = None
    job_title: str | None = None
    manager_id: str | None = None
    location: str | None = None
    # Effective dates, as HRIS exports carry them (Workday: a business process's effective date;
    # BambooHR: the date of each employmentStatus / jobInfo row): the day the current ``status``
    # takes effect (a leave's first day, the return from leave) and the day the current job
    # (department, job_title, manager_id, location) does (a transfer). HR enters them ahead; the
    # export shows the change at once, with its date. None: effective since hire (or unknown).
    status_effective_date: date | None = None
    job_effective_date: date | None = None


class NameAr(_Strict):
    """The legal name in Arabic a Saudi HRIS holds beside the Latin one (docs/national.md)."""

    given: str | None = None
    family: str | None = None


class Compensation(_Strict):
    salary_band: str | None = None


class Worker(_Strict):
    """A worker as the HRIS contract defines it; ``updated_at`` is the HRIS's to set."""

    employee_id: str = Field(min_length=1)
    source_system: Literal["hris_main", "acquired_hris"]
    name: Name
    emails: Emails
    employment: Employment
    compensation: Compensation
    updated_at: str | None = None
    # A Saudi HRIS's national fields (include/mappings/hris_worker_national_v1.csv); absent elsewhere.
    national_id: str | None = None
    name_ar: NameAr | None = None

    def document(self) -> dict[str, Any]:
        """The stored JSON document (everything but ``updated_at``; the national fields only when sent)."""
        unsent = {name for name in ("national_id", "name_ar") if getattr(self, name) is None}
        return self.model_dump(mode="json", exclude={"updated_at", *unsent})


class Certification(_Strict):
    """Write-back of a credential onto the HRIS profile."""

    status: Literal["active", "expired", "revoked"]
    summary: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    credential_id: str | None = None
    updated_at: str = Field(description="when the credential last changed at the source (ISO-8601)")


class PayrollFlag(_Strict):
    """Write-back of a pay-impacting flag."""

    active: bool
    effective_from: date | None = None
    effective_to: date | None = None
    credential_id: str | None = None


class CareerEligibility(_Strict):
    """An approved career-path eligibility on the worker's talent profile (Workday "eligible for" /
    SuccessFactors career-path readiness style): a flag for HR with who approved it, never a job change."""

    status: Literal["eligible"]
    rule_id: str = Field(min_length=1)
    rule_version: int = Field(ge=1)
    case_id: str = Field(min_length=1)
    approved_by: str = Field(min_length=1)
    approved_at: str = Field(description="when the approver decided (ISO-8601)")
    credential_ids: list[str] = Field(default_factory=list)


class SeedRequest(_Strict):
    workers: int = Field(ge=0, le=2_000_000)
    seed: int = 1
    national: bool = False


class TerminateRequest(_Strict):
    # The field is named "date" by the contract, hence dt.date for its type.
    date: dt.date | None = None
    webhook: bool = True


class ErasureRequest(_Strict):
    """A data subject's erasure request as the HRIS's privacy tooling records it (GDPR Art. 17, CCPA delete)."""

    regulation: Literal["gdpr", "ccpa"] = "gdpr"
    webhook: bool = True


class LeaveRequest(_Strict):
    """A leave (``status`` leave) or a return from leave (``status`` active), effective ``date``."""

    date: dt.date | None = None
    webhook: bool = True


class TransferRequest(_Strict):
    """A job change effective ``date``: the fields given replace the worker's current job."""

    date: dt.date | None = None
    department: str | None = None
    job_title: str | None = None
    manager_id: str | None = None
    location: str | None = None
    webhook: bool = True


class WebhookTarget(_Strict):
    url: str = Field(pattern=r"^https?://")
    secret: str = Field(min_length=1)


WORKER_COLUMNS: tuple[str, ...] = (
    "employee_id",
    "source_system",
    "name.given",
    "name.family",
    "name.preferred",
    "emails.work",
    "emails.personal",
    "employment.status",
    "employment.type",
    "employment.hire_date",
    "employment.termination_date",
    "employment.rehire_date",
    "employment.department",
    "employment.job_title",
    "employment.manager_id",
    "employment.location",
    "employment.status_effective_date",
    "employment.job_effective_date",
    "compensation.salary_band",
    "updated_at",
)


def flatten(worker: dict[str, Any]) -> list[str]:
    """The CSV row of a worker in :data:`WORKER_COLUMNS` order; null becomes an empty cell."""
    row = []
    for column in WORKER_COLUMNS:
        value: Any = worker
        for part in column.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        row.append("" if value is None else str(value))
    return row


def unflatten(row: dict[str, str]) -> dict[str, Any]:
    """The worker dict of a CSV row (empty cells become null): the inverse of :func:`flatten`."""
    worker: dict[str, Any] = {}
    for column in WORKER_COLUMNS:
        *parents, leaf = column.split(".")
        target = worker
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = row.get(column) or None
    return worker


def iter_csv(workers: Iterable[dict[str, Any]]) -> Iterator[str]:
    """CSV text chunks: the header, then one chunk per batch of rows (RFC 4180 quoting)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(WORKER_COLUMNS)
    for position, worker in enumerate(workers, start=1):
        writer.writerow(flatten(worker))
        if position % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
