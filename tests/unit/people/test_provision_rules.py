"""Provisioning decisions that need no server: lifecycle, userName, the compared shape."""

from __future__ import annotations

from credsync.hooks.scim import ENTERPRISE_SCHEMA
from credsync.people.provision import Worker, comparable, desired_user, should_be_active, state_hash


def worker(**overrides: object) -> Worker:
    values = dict(employee_id="E1", given_name="Ann", family_name="Lee", preferred_name=None,
                  work_email="ann@acme.example", employment_status="active", department="Ops",
                  job_title="Operator", manager_id=None, employment_type="employee")
    values.update(overrides)
    return Worker(**values)  # type: ignore[arg-type]


def test_terminated_and_leave_are_inactive_unless_leave_is_configured_active() -> None:
    assert should_be_active("active", deactivate_on_leave=True)
    assert not should_be_active("terminated", deactivate_on_leave=False)
    assert not should_be_active("leave", deactivate_on_leave=True)
    assert should_be_active("leave", deactivate_on_leave=False)


def test_username_is_the_employee_id_not_the_email() -> None:
    a = desired_user(worker(), active=True, manager_scim_id=None)
    b = desired_user(worker(employee_id="E2"), active=True, manager_scim_id=None)
    assert a["userName"] == a["externalId"] == "E1"
    assert a["userName"] != b["userName"]  # same email, two accounts


def test_server_additions_do_not_count_as_a_difference() -> None:
    wanted = desired_user(worker(manager_id="E0"), active=True, manager_scim_id="abc")
    returned = {**wanted, "id": "u1", "meta": {"version": 'W/"3"'},
                "emails": [{"value": "ann@acme.example", "type": "work", "primary": True}]}
    assert comparable(returned) == comparable(wanted)
    assert state_hash(returned) == state_hash(wanted)
    assert returned[ENTERPRISE_SCHEMA]["manager"] == {"value": "abc"}


def test_email_change_and_deactivation_are_differences() -> None:
    before = desired_user(worker(), active=True, manager_scim_id=None)
    assert comparable(desired_user(worker(work_email="a.lee@acme.example"), active=True,
                                   manager_scim_id=None)) != comparable(before)
    assert comparable(desired_user(worker(), active=False, manager_scim_id=None)) != comparable(before)
