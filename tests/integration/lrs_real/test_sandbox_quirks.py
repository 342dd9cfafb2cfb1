"""The LRS sandbox's Ralph quirks (SANDBOX_LRS_QUIRKS), checked side by side with the real Ralph."""

from __future__ import annotations

import pytest
import requests

from tests.integration.lrs_real.conftest import ralph_lrs, sandbox_lrs
from tests.integration.lrs_real.harness import DAY, HOUR, VERSION, now_utc, statement

pytestmark = pytest.mark.slow


def page(lrs, **params) -> requests.Response:
    answer = requests.get(lrs.base_url + "statements", params=params, auth=lrs.auth, headers=VERSION, timeout=10)
    answer.raise_for_status()
    return answer


@pytest.fixture
def pair(ralph, quirky_sandbox, sandbox):
    now = now_utc()
    old_timestamp = statement("passed", "CPR-101", "E1", now - 10 * DAY)
    recent = [statement("passed", "CPR-101", "E1", now - HOUR * (5 - i)) for i in range(4)]
    lrses = {"ralph": ralph_lrs(ralph), "quirky": sandbox_lrs("quirky", *quirky_sandbox),
             "sandbox": sandbox_lrs("sandbox", *sandbox)}
    for lrs in lrses.values():
        lrs.reset()
        lrs.post(recent[:2])
        lrs.post([old_timestamp])  # stored after them, with a 10-day-old timestamp
        lrs.post(recent[2:])
    return lrses, now, old_timestamp, recent


def test_since_on_timestamp(pair) -> None:
    lrses, now, old_timestamp, _ = pair
    since = (now - DAY).isoformat().replace("+00:00", "Z")
    ids = {name: {s["id"] for s in page(lrs, since=since).json()["statements"]} for name, lrs in lrses.items()}
    assert old_timestamp["id"] not in ids["ralph"]
    assert ids["quirky"] == ids["ralph"]
    assert old_timestamp["id"] in ids["sandbox"]  # the spec: since is on stored


def test_no_consistent_through_and_descending_pages(pair) -> None:
    lrses, _, old_timestamp, recent = pair
    stored_order = [recent[0]["id"], recent[1]["id"], old_timestamp["id"], recent[2]["id"], recent[3]["id"]]
    for name in ("ralph", "quirky"):
        lrs = lrses[name]
        first = page(lrs, limit=2, ascending="true")
        assert "X-Experience-API-Consistent-Through" not in first.headers
        body = first.json()
        assert [s["id"] for s in body["statements"]] == stored_order[:2][::-1], name  # newest first
        more = requests.get(requests.compat.urljoin(lrs.base_url, body["more"]), auth=lrs.auth, headers=VERSION,
                            timeout=10).json()
        assert [s["id"] for s in more["statements"]] == stored_order[2:4][::-1], name
    assert "X-Experience-API-Consistent-Through" in page(lrses["sandbox"], limit=2).headers


def test_unknown_quirk_is_refused() -> None:
    from sandbox.lrs.settings import LrsSettings

    with pytest.raises(RuntimeError, match="SANDBOX_LRS_QUIRKS: unknown"):
        LrsSettings.from_env({"SANDBOX_LRS_CREDENTIALS": '{"a": ["k", "s"]}', "SANDBOX_LMS_TOKENS": '{"a": "t"}',
                              "SANDBOX_LRS_QUIRKS": "since_on_stored"})


@pytest.mark.parametrize("kind", ["sandbox", "quirky"])
def test_poisoned_statements_do_not_stop_the_tenant_on_the_sandbox(kind, lrs_factory, fresh_warehouse_url) -> None:
    """Future timestamp, NUL and no timezone (which the sandbox, unlike Ralph, can still answer `since`
    queries about): each quarantined once with its reason; the next good statements merge next run."""
    from credsync.warehouse import connect
    from tests.integration.lrs_real.harness import add_worker

    conn = connect(fresh_warehouse_url, autocommit=True)
    for employee_id in ("E1", "E2"):
        add_worker(conn, employee_id)
    lrs, pipeline = lrs_factory(kind, fresh_warehouse_url)
    now = now_utc()
    nul = statement("passed", "CPR-101", "E1", now - 2 * HOUR)
    nul["result"]["response"] = "a\u0000b"
    poison = [statement("passed", "CPR-101", "E1", "2999-01-01T00:00:00Z"), nul,
              statement("passed", "CPR-101", "E2", (now - HOUR).replace(tzinfo=None).isoformat())]
    lrs.post(poison, raw=True)
    first = pipeline.run()
    assert (first["records_in"], first["quarantined"], first["inserted"]) == (3, 3, 0)
    good = statement("passed", "FIRSTAID-110", "E2", now - HOUR / 2)
    lrs.post([good])
    second = pipeline.run()
    assert second["inserted"] == 1
    rules = dict(conn.execute("SELECT record_key, rule FROM audit.quarantine").fetchall())
    assert [rules[s["id"]] for s in poison] == ["timestamp_not_future", "control_characters", "timestamp_valid"]
    assert conn.execute("SELECT count(*) FROM audit.quarantine").fetchone()[0] == 3  # never re-counted
    conn.close()
