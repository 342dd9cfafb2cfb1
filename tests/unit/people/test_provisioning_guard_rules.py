"""The guards' plain rules: tenants.yaml validation, the brake's threshold, the back-off steps,
effective dates in the tenant's time zone, SCIM booleans sent as strings, the final approval timeout."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from credsync.people.effective import effective_status, job_held, local_today
from credsync.people.guards import Brake, FailureBudget, load_guards, parse_guards
from credsync.people.provision import comparable, scim_bool
from credsync.tenants import TenantConfigError

TODAY = date(2026, 11, 10)


def test_shipped_tenants_have_valid_guards():
    for tenant in ("acme", "globex"):
        guards = load_guards(tenant)
        assert guards.zone.key in ("Europe/Berlin", "Europe/Dublin")
        assert guards.brake.max_count >= 1 and 0 < guards.brake.max_share < 1
        assert guards.failure_budget.min_sample >= 1


@pytest.mark.parametrize(("entry", "message"), [
    ({"timezone": "Mars/Olympus"}, "field 'timezone' 'Mars/Olympus' is not an IANA time zone"),
    ({"provisioning": {"brake": {"max_share": 1.5}}}, "field 'provisioning.brake.max_share' is 1.5"),
    ({"provisioning": {"brake": {"max_count": True}}}, "field 'provisioning.brake.max_count' must be an integer"),
    ({"provisioning": {"brake": {"max_cuont": 3}}}, "unknown key(s) 'max_cuont'"),
    ({"provisioning": {"failure_budget": {"backoff_minutes": []}}}, "backoff_minutes' must be a non-empty list"),
    ({"provisioning": {"failure_budget": {"min_sample": 0}}}, "min_sample' is 0"),
    ({"provisioning": "on"}, "field 'provisioning' must be a mapping"),
])
def test_guard_errors_name_the_file_tenant_and_field(entry, message):
    with pytest.raises(TenantConfigError) as error:
        parse_guards("include/tenants.yaml: tenant #2 (globex)", "globex", entry)
    assert "include/tenants.yaml: tenant #2 (globex)" in str(error.value)
    assert message in str(error.value)


def test_unknown_tenant_is_named(tmp_path: Path):
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants:\n  - tenant_id: acme\n", encoding="utf-8")
    with pytest.raises(TenantConfigError, match="no tenant 'initech'"):
        load_guards("initech", path)


@pytest.mark.parametrize(("changes", "population", "trips"), [
    (0, 100, False), (10, 20, False),   # a small tenant's leavers: at most max_count
    (11, 100, False),                   # over the count, under the share
    (21, 100, True), (24, 60, True),    # over both: 40% of a tenant
    (11, 0, True),                      # no active account left to judge against: a human decides
])
def test_brake_needs_both_count_and_share(changes, population, trips):
    assert Brake(max_count=10, max_share=0.2).trips(changes, population) is trips


def test_brake_on_count_alone_like_entra():
    assert Brake(max_count=5, max_share=0).trips(6, 10_000)


def test_backoff_steps_repeat_the_last():
    budget = FailureBudget(backoff_minutes=(15, 60, 240))
    assert [budget.backoff(n) for n in (1, 2, 3, 4, 9)] == [15, 60, 240, 240, 240]


def test_termination_next_week_is_held_and_applies_on_its_date():
    held = effective_status("terminated", today=TODAY, hire_date=date(2020, 1, 1),
                            termination_date=date(2026, 11, 17), rehire_date=None)
    assert (held.status, held.held, held.effective_date) == ("active", "termination", date(2026, 11, 17))
    for day in (date(2026, 11, 17), date(2026, 11, 18)):
        assert effective_status("terminated", today=day, hire_date=date(2020, 1, 1),
                                termination_date=date(2026, 11, 17), rehire_date=None).status == "terminated"


def test_future_hire_and_return_wait_unless_within_the_lookahead():
    hire = {"hire_date": date(2026, 11, 13), "termination_date": None, "rehire_date": None}
    assert effective_status("active", today=TODAY, **hire).held == "hire"
    assert effective_status("active", today=TODAY, lookahead_days=3, **hire).status == "active"
    rehire = {"hire_date": date(2020, 1, 1), "termination_date": date(2025, 5, 1), "rehire_date": date(2026, 12, 1)}
    assert effective_status("active", today=TODAY, **rehire).held == "rehire"
    # A past termination with a past rehire is just active.
    assert effective_status("active", today=TODAY, hire_date=date(2020, 1, 1), termination_date=date(2025, 5, 1),
                            rehire_date=date(2025, 9, 1)).status == "active"


def test_leave_and_return_wait_for_their_status_effective_date():
    hired = {"hire_date": date(2020, 1, 1), "termination_date": None, "rehire_date": None}
    leave = effective_status("leave", today=TODAY, status_effective_date=date(2026, 11, 17), **hired)
    assert (leave.status, leave.held, leave.effective_date) == ("active", "leave", date(2026, 11, 17))
    # A leave never starts early, whatever the lookahead; on its day it applies.
    assert effective_status("leave", today=TODAY, lookahead_days=30, status_effective_date=date(2026, 11, 17),
                            **hired).status == "active"
    assert effective_status("leave", today=date(2026, 11, 17), status_effective_date=date(2026, 11, 17),
                            **hired).status == "leave"
    back = effective_status("active", today=TODAY, status_effective_date=date(2026, 11, 24), **hired)
    assert (back.status, back.held) == ("leave", "return")
    assert effective_status("active", today=TODAY, lookahead_days=14, status_effective_date=date(2026, 11, 24),
                            **hired).status == "active", "a return is ready lookahead_days early, like a rehire"
    # A status date equal to a future hire is the hire itself (held as a hire), not a return.
    new = {"hire_date": date(2026, 11, 20), "termination_date": None, "rehire_date": None}
    assert effective_status("active", today=TODAY, status_effective_date=date(2026, 11, 20), **new).held == "hire"
    assert effective_status("active", today=TODAY, status_effective_date=date(2026, 11, 1), **hired).held is None


def test_a_transfer_is_held_until_its_job_effective_date():
    assert job_held(date(2026, 11, 17), today=TODAY)
    assert not job_held(date(2026, 11, 10), today=TODAY) and not job_held(None, today=TODAY)


def test_today_is_the_tenants_local_date():
    late_evening_utc = datetime(2026, 11, 16, 23, 30, tzinfo=UTC)
    assert local_today(ZoneInfo("Europe/Berlin"), late_evening_utc) == date(2026, 11, 17)
    assert local_today(ZoneInfo("America/New_York"), late_evening_utc) == date(2026, 11, 16)
    with pytest.raises(ValueError, match="timezone-aware"):
        local_today(ZoneInfo("UTC"), datetime(2026, 11, 16, 12, 0))  # a naive time: the point of the test


@pytest.mark.parametrize(("value", "expected"), [
    (True, True), (False, False), ("true", True), ("False", False), ("FALSE", False), (" True ", True), (None, True),
])
def test_scim_booleans_sent_as_strings(value, expected):
    assert scim_bool(value) is expected


def test_string_false_from_the_target_compares_as_inactive():
    # bool("False") is True: read naively, every inactive account would look active and stay unreconciled.
    assert comparable({"userName": "E1", "active": "False"})["active"] is False
    with pytest.raises(ValueError, match="not a SCIM boolean"):
        scim_bool("maybe")


def test_an_approval_timeout_fails_without_retry():
    from airflow.sdk.exceptions import AirflowFailException

    from credsync.operators.approval import ChangeSetApprovalOperator

    operator = ChangeSetApprovalOperator(task_id="approve", subject="s", options=["Approve", "Reject"])
    with pytest.raises(AirflowFailException, match="the change set expires"):
        operator.process_trigger_event_error({"error_type": "timeout", "error": "timed out"})
