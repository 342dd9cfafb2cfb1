"""Effective dating: a worker change takes effect on its date in the tenant's time zone, not on export.

The HRIS exports a termination, hire or rehire as soon as HR enters it, often days ahead. Provisioning
asks :func:`effective_status` which status the LMS account should reflect *today*:

- ``terminated`` with a ``termination_date`` after today: still ``active`` (held until that date);
  on or before today: ``terminated`` — so a termination exported yesterday for today applies today;
- ``active`` with a ``rehire_date`` (return) or, for a first hire, a ``hire_date`` more than
  ``lookahead_days`` ahead: not active yet (held); within the window: active (the account is ready
  on day one);
- ``leave`` and the return from leave follow the same rule through the HRIS's
  ``status_effective_date`` (the day the current status takes effect): a leave entered with a
  future date keeps the worker ``active`` until that day (held ``leave``); a return entered with a
  future date keeps them on ``leave`` until then, or until ``lookahead_days`` before it (held
  ``return``), like a rehire;
- a transfer (the HRIS's ``job_effective_date``, the day the current department, job title,
  manager and location take effect) dated after today is held: the LMS account and its groups
  keep the previous job until that day (:func:`job_held`).

"Today" is the tenant's local date (``timezone`` in include/tenants.yaml) at ``now``, which tests
fix. Plain module: no Airflow, no database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Effective:
    """The status to provision today; ``held`` names the change waiting for ``effective_date``."""

    status: str
    held: str | None = None  # termination | hire | rehire | leave | return
    effective_date: date | None = None


def local_today(zone: ZoneInfo, now: datetime | None = None) -> date:
    """The tenant's calendar date at ``now`` (default: the current instant)."""
    instant = now if now is not None else datetime.now(UTC)
    if instant.tzinfo is None:
        raise ValueError("now must be timezone-aware: a naive time has no tenant date")
    return instant.astimezone(zone).date()


def effective_status(status: str, *, today: date, hire_date: date | None, termination_date: date | None,
                     rehire_date: date | None, lookahead_days: int = 0,
                     status_effective_date: date | None = None) -> Effective:
    """What ``status`` means for the LMS on ``today`` (see the module docstring)."""
    if status == "terminated":
        if termination_date is not None and termination_date > today:
            return Effective("active", "termination", termination_date)
        return Effective("terminated")
    start_by = today + timedelta(days=lookahead_days)
    if rehire_date is not None and (termination_date is None or rehire_date > termination_date):
        if rehire_date > start_by:
            return Effective("terminated", "rehire", rehire_date)
    elif hire_date is not None and hire_date > start_by and termination_date is None:
        return Effective("terminated", "hire", hire_date)
    if status_effective_date is not None and status_effective_date > today:
        if status == "leave":  # a leave starts on its day, never early (like a termination)
            return Effective("active", "leave", status_effective_date)
        # Active from a future day that is not the (re)hire itself: the return from a leave.
        if status == "active" and status_effective_date not in (hire_date, rehire_date) \
                and status_effective_date > start_by:
            return Effective("leave", "return", status_effective_date)
    return Effective(status)


def job_held(job_effective_date: date | None, *, today: date) -> bool:
    """True while a transfer (the current job's effective date) lies after ``today``."""
    return job_effective_date is not None and job_effective_date > today
