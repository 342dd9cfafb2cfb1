"""Leave, return and transfers take effect on their HRIS effective date in the tenant's time zone.

The HRIS sandbox exports each status or job change at once, with its ``status_effective_date`` /
``job_effective_date`` (as Workday and BambooHR exports carry them); provisioning and Group Push,
under a fixed clock, keep the LMS account and its groups as they were until that day (acme:
Europe/Berlin), then apply the change without a new export. Real scim2-server, real warehouse.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests

from credsync.hooks.scim import ENTERPRISE_SCHEMA
from tests.integration.people.test_group_push import lms_groups, push, scim_id_of
from tests.integration.people.test_provisioning_guards import (  # noqa: F401 - provisioned is a fixture
    NOW,
    export,
    lms_users,
    provision,
    provisioned,
    rows,
)

pytestmark = pytest.mark.slow
# 23:30 UTC on the 16th is already the 17th in Berlin; 22:30 UTC is still the 16th.
EVE = datetime(2026, 11, 16, 22, 30, tzinfo=UTC)
ON_THE_DAY = datetime(2026, 11, 16, 23, 30, tzinfo=UTC)


def hris(env, employee_id: str, change: str, **body: object) -> None:
    requests.post(f"{env.hris_url}/admin/tenants/{env.tenant}/workers/{employee_id}/{change}",
                  json={"webhook": False, **body}, timeout=30).raise_for_status()


def held(env, employee_id: str) -> list[tuple]:
    return rows(env, "SELECT change, effective_date::text, applied_at IS NOT NULL FROM core.held_changes"
                     " WHERE tenant_id = %s AND employee_id = %s ORDER BY first_held_at, change",
                env.tenant, employee_id)


def test_a_leave_dated_next_week_waits_for_its_day_and_so_does_the_return(provisioned) -> None:  # noqa: F811
    env, scim, active = provisioned
    worker = active[0]
    hris(env, worker, "leave", date="2026-11-17")  # entered on the 10th, the leave starts next week
    assert export(env)["updated"] == 1
    assert rows(env, "SELECT employment_status, status_effective_date::text FROM core.workers WHERE employee_id = %s",
                worker) == [("leave", "2026-11-17")]

    report = provision(env, now=NOW)
    assert report["held"] == 1 and report.get("deactivate", 0) == 0
    assert lms_users(scim)[worker]["active"] is True
    assert held(env, worker) == [("leave", "2026-11-17", False)]
    assert provision(env, now=EVE)["pushed"] == 0 and lms_users(scim)[worker]["active"] is True

    on_leave = provision(env, now=ON_THE_DAY)  # no new export: the date alone applies it
    assert on_leave.get("deactivate") == 1 and on_leave["held"] == 0
    assert lms_users(scim)[worker]["active"] is False
    assert held(env, worker) == [("leave", "2026-11-17", True)]

    hris(env, worker, "return", date="2026-11-24")
    export(env)
    waiting = provision(env, now=datetime(2026, 11, 20, 12, 0, tzinfo=UTC))
    assert waiting["held"] == 1 and waiting["pushed"] == 0
    assert lms_users(scim)[worker]["active"] is False, "the return was applied before its date"
    back = provision(env, now=datetime(2026, 11, 23, 23, 30, tzinfo=UTC))  # the 24th in Berlin
    assert back.get("reactivate") == 1 and lms_users(scim)[worker]["active"] is True
    assert held(env, worker)[-1] == ("return", "2026-11-24", True)
    assert provision(env, now=datetime(2026, 11, 25, tzinfo=UTC))["pushed"] == 0


def test_a_transfer_dated_next_week_keeps_the_old_department_and_groups_until_its_day(
        provisioned) -> None:  # noqa: F811
    env, scim, _active = provisioned
    push(env)
    worker = rows(env, "SELECT w.employee_id FROM core.workers w JOIN core.learners l USING (tenant_id, employee_id)"
                       " WHERE w.tenant_id = %s AND w.department = 'Warehouse' AND l.active ORDER BY 1 LIMIT 1",
                  env.tenant)[0][0]
    member = scim_id_of(env, worker)
    assert member in lms_groups(env)["lms-dept-warehouse"]
    hris(env, worker, "transfer", date="2026-11-17", department="Logistics")
    export(env)
    assert rows(env, "SELECT department, job_effective_date::text FROM core.workers WHERE employee_id = %s",
                worker) == [("Logistics", "2026-11-17")]

    report = provision(env, now=NOW)
    assert report["held"] == 1 and report["pushed"] == 0, "the held transfer reached the LMS account"
    assert lms_users(scim)[worker][ENTERPRISE_SCHEMA]["department"] == "Warehouse"
    assert held(env, worker) == [("transfer", "2026-11-17", False)]
    early = push(env)
    assert not early.get("remove") and not early.get("add")
    groups = lms_groups(env)
    assert member in groups["lms-dept-warehouse"] and member not in groups["lms-dept-logistics"]

    assert provision(env, now=EVE)["pushed"] == 0
    moved = provision(env, now=ON_THE_DAY)
    assert moved.get("update") == 1 and moved["held"] == 0
    assert lms_users(scim)[worker][ENTERPRISE_SCHEMA]["department"] == "Logistics"
    on_the_day = push(env)
    assert (on_the_day.get("remove"), on_the_day.get("add")) == (1, 1)
    groups = lms_groups(env)
    assert member not in groups["lms-dept-warehouse"] and member in groups["lms-dept-logistics"]
    assert held(env, worker) == [("transfer", "2026-11-17", True)]
    assert provision(env, now=ON_THE_DAY)["pushed"] == 0 and push(env)["patches"] == 0
