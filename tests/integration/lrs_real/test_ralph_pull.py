"""The completion pull against the real Ralph LRS (ralph-malph 5.1.0 from PyPI), one bug of issue 13 each.

Ralph filters ``since`` on ``timestamp``, sends no Consistent-Through, pages newest-first, keeps
voided statements in results and stores a year-2999 timestamp as given: each test feeds it the
statements that exposed a loss and checks ``core`` (and the quarantine) afterwards.
"""

from __future__ import annotations

import json
import uuid

import pytest

from credsync.learning.lrs_sync import LrsQueryFailed
from credsync.warehouse import connect
from tests.integration.lrs_real.harness import DAY, HOUR, MINUTE, add_worker, completions, now_utc, statement, void

pytestmark = pytest.mark.slow


def scalar(conn, sql: str, *args: object):
    return conn.execute(sql, args).fetchone()[0]


@pytest.fixture
def acme(fresh_warehouse_url, lrs_factory):
    conn = connect(fresh_warehouse_url, autocommit=True)
    for employee_id in ("E1", "E2", "E3"):
        add_worker(conn, employee_id)
    lrs, pipeline = lrs_factory("ralph", fresh_warehouse_url)
    yield conn, lrs, pipeline
    conn.close()


@pytest.mark.parametrize("xapi_version", ["1.0.3", "2.0"])
def test_full_base_url_with_path_and_descending_pages(acme, monkeypatch, xapi_version) -> None:
    """The Connection's host is Ralph's endpoint with its /xAPI/ path; pages of 3 come newest-first."""
    conn, lrs, pipeline = acme
    connection = lrs.connection() | {"extra": json.dumps({"page_size": 3, "xapi_version": xapi_version})}
    monkeypatch.setenv(f"AIRFLOW_CONN_{pipeline.lrs_conn_id.upper()}", json.dumps(connection))
    now = now_utc()
    lrs.post([statement("passed", "CPR-101", f"E{1 + i % 3}", now - HOUR * (10 - i)) for i in range(8)])
    merged = pipeline.run()
    assert merged["inserted"] == 8
    assert scalar(conn, "SELECT count(*) FROM core.completions") == 8
    pulled = conn.execute("SELECT statements, consistent_through, duplicates FROM audit.lrs_pulls").fetchone()
    assert pulled == (8, None, 0)  # Ralph sends no Consistent-Through: the pull does not need it


def test_statement_stored_late_with_an_older_timestamp_is_pulled(acme) -> None:
    conn, lrs, pipeline = acme
    now = now_utc()
    lrs.post([statement("passed", "CPR-101", "E1", now - 2 * HOUR)])
    pipeline.run()
    # An offline app syncs a completion from 5 hours ago, after the first pull.
    late = statement("passed", "FIRSTAID-110", "E2", now - 5 * HOUR)
    lrs.post([late])
    merged = pipeline.run()
    assert merged["inserted"] == 1
    assert scalar(conn, "SELECT employee_id FROM core.completions WHERE source_id = %s", late["id"]) == "E2"
    # lateness (stored - timestamp) is recorded per pull: the late one is 5 hours late
    assert scalar(conn, "SELECT max(lateness_max_s) FROM audit.lrs_pulls") >= 5 * 3600 - 60


def test_late_void_is_applied_in_a_later_pull(acme) -> None:
    conn, lrs, pipeline = acme
    now = now_utc()
    passed = statement("passed", "FORKLIFT-200", "E1", now - 3 * HOUR)
    lrs.post([passed])
    pipeline.run()
    assert scalar(conn, "SELECT voided FROM core.completions WHERE source_id = %s", passed["id"]) is False
    # The LMS voids it later, with the voiding statement dated back to the original's hour.
    voiding = void(passed, now - 3 * HOUR + MINUTE)
    lrs.post([voiding])
    merged = pipeline.run()
    assert merged["voided"] == 1
    row = conn.execute("SELECT voided, voided_by FROM core.completions WHERE source_id = %s",
                       (passed["id"],)).fetchone()
    assert row == (True, voiding["id"])


def test_statement_older_than_the_lookback_is_found_by_the_reconciliation(acme) -> None:
    conn, lrs, pipeline = acme
    now = now_utc()
    lrs.post([statement("passed", "CPR-101", "E1", now - HOUR)])
    pipeline.run()
    month_late = statement("passed", "FIRSTAID-110", "E3", now - 30 * DAY)
    lrs.post([month_late])
    assert pipeline.run()["inserted"] == 0  # 30 days older than the watermark: no overlap reaches it
    merged = pipeline.run(reconcile=True)
    assert merged["inserted"] == 1
    assert scalar(conn, "SELECT employee_id FROM core.completions WHERE source_id = %s", month_late["id"]) == "E3"
    listed, missing = conn.execute("SELECT reconcile_listed, reconcile_missing FROM audit.lrs_pulls"
                                   " WHERE reconciled").fetchone()
    assert (listed, missing) == (2, 1)
    # The next reconciliation finds nothing new.
    assert pipeline.run(reconcile=True)["inserted"] == 0


def test_future_timestamp_and_nul_do_not_stop_the_tenant(acme) -> None:
    conn, lrs, pipeline = acme
    now = now_utc()
    poisoned = statement("passed", "CPR-101", "E1", "2999-01-01T00:00:00Z")
    nul = statement("passed", "CPR-101", "E2", now - 2 * HOUR, description="x")
    nul["result"]["response"] = "bad\u0000byte"
    good = statement("passed", "FIRSTAID-110", "E3", now - HOUR)
    lrs.post([poisoned, nul, good])
    first = pipeline.run()
    assert first["inserted"] == 1  # 2 of 3 bad: below the minimum batch size, no share refusal
    rules = dict(conn.execute("SELECT record_key, rule FROM audit.quarantine").fetchall())
    assert rules[poisoned["id"]] == "timestamp_not_future"
    assert nul["id"] in rules
    watermark = scalar(conn, "SELECT watermark FROM audit.sync_state WHERE source = 'lrs' AND stream = 'statements'")
    assert watermark < "2100"  # the future timestamp never moved it
    # Ralph returns the year-2999 statement on every pull (since is on timestamp): skipped, not re-counted.
    next_good = statement("passed", "FORKLIFT-200", "E1", now - HOUR / 2)
    lrs.post([next_good])
    second = pipeline.run()
    assert second["inserted"] == 1
    # in: the new one and the good one again (the overlap; a no-op merge); the two bad ones skipped
    assert (second["records_in"], second["quarantined"]) == (2, 0)
    assert scalar(conn, "SELECT count(*) FROM audit.quarantine WHERE record_key = %s", poisoned["id"]) == 1
    assert scalar(conn, "SELECT already_quarantined FROM audit.lrs_pulls ORDER BY pulled_at DESC LIMIT 1") >= 1


def test_one_poisoned_statement_in_a_big_batch_does_not_block_it(acme) -> None:
    _, lrs, pipeline = acme
    now = now_utc()
    lrs.post([statement("passed", "CPR-101", f"E{1 + i % 3}", now - HOUR - i * MINUTE) for i in range(40)]
             + [statement("passed", "CPR-101", "E1", "2999-01-01T00:00:00Z")])
    merged = pipeline.run()
    assert (merged["records_in"], merged["quarantined"], merged["inserted"]) == (41, 1, 40)


def test_naive_timestamp_makes_ralph_fail_since_queries_and_the_error_says_what_to_do(acme) -> None:
    conn, lrs, pipeline = acme
    now = now_utc()
    lrs.post([statement("passed", "CPR-101", "E1", now - HOUR)])
    pipeline.run()
    lrs.post([statement("passed", "CPR-101", "E2", (now - HOUR / 2).replace(tzinfo=None).isoformat())])
    with pytest.raises(LrsQueryFailed) as failure:
        pipeline.run()
    message = str(failure.value)
    assert "lrs_ralph_test" in message and "since=" in message and "full_pull=true" in message
    # What the message says works: a full pull reads without `since`; the naive one is quarantined
    # with its reason, and the next good statement merges.
    merged = pipeline.run(full=True)
    assert (merged["inserted"], merged["quarantined"]) == (0, 1)
    reason = scalar(conn, "SELECT reason FROM audit.quarantine WHERE rule = 'timestamp_valid'")
    assert "has no time zone" in reason
    lrs.post([statement("passed", "FIRSTAID-110", "E3", now - HOUR / 4)])
    assert pipeline.run(full=True)["inserted"] == 1
    assert scalar(conn, "SELECT count(*) FROM core.completions") == 2


def test_rest_twin_of_a_voided_statement_is_voided_and_its_credential_revoked(acme, lms_admin) -> None:
    from datetime import date

    import requests

    from credsync.credentials.issuance import issue_credentials
    from credsync.credentials.keys import generate_signing_key, parse_signing_key
    from credsync.credentials.rules import load_rules

    conn, lrs, pipeline = acme
    now = now_utc()
    enrollment = str(uuid.uuid4())
    passed = statement("passed", "FORKLIFT-200", "E1", now - 2 * HOUR, registration=enrollment)
    lrs.post([passed])
    # The LMS REST export has the same enrollment, completed at the same time.
    requests.post(f"{lms_admin}/admin/acme/completions", timeout=10, json=[{
        "enrollment_id": enrollment, "user_external_id": "E1", "course_code": "FORKLIFT-200",
        "completion_status": "completed", "success_status": "passed",
        "score": {"raw": 90, "min": 0, "max": 100, "scaled": 0.9},
        "completed_at": passed["timestamp"], "updated_at": passed["timestamp"]}]).raise_for_status()
    pipeline.run()
    key = parse_signing_key(generate_signing_key())
    as_of = date.today()
    issued = issue_credentials(conn, tenant_id="acme", rules=load_rules(), signing_key=key, as_of=as_of)
    assert issued.issued == 1
    evidence = scalar(conn, "SELECT evidence_key FROM core.credentials WHERE credential_type = 'forklift_operator'")
    assert evidence.startswith("lms_rest:")  # issued from the REST copy

    # Dated now, so any pull (even one trusting since-on-stored) reads it: this is about the REST copy.
    lrs.post([void(passed, now_utc() + MINUTE)])
    merged = pipeline.run()
    assert merged["voided"] == 2  # the statement and its REST twin
    result = issue_credentials(conn, tenant_id="acme", rules=load_rules(), signing_key=key, as_of=as_of)
    assert result.revoked_evidence_voided == 1
    assert conn.execute("SELECT status, status_reason FROM core.credentials"
                        " WHERE credential_type = 'forklift_operator'").fetchone() == ("revoked", "evidence_voided")
    assert all(row[8] for row in completions(conn))  # both copies voided, none deleted


def test_the_reconciliation_runs_by_itself_once_a_week(acme) -> None:
    conn, lrs, pipeline = acme
    now = now_utc()
    lrs.post([statement("passed", "CPR-101", "E1", now - HOUR)])
    pipeline.run()
    month_late = statement("passed", "FIRSTAID-110", "E3", now - 30 * DAY)
    lrs.post([month_late])
    assert pipeline.run()["inserted"] == 0  # not due: the first sync pull was minutes ago
    conn.execute("UPDATE audit.lrs_pulls SET pulled_at = pulled_at - interval '8 days'")
    assert pipeline.run()["inserted"] == 1  # due: nothing reconciled for more than 7 days
    assert scalar(conn, "SELECT count(*) FROM audit.lrs_pulls WHERE reconciled") == 1
    assert pipeline.run()["inserted"] == 0
    assert scalar(conn, "SELECT count(*) FROM audit.lrs_pulls WHERE reconciled") == 1  # not again for a week
