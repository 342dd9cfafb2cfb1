"""One statement history through the real Ralph LRS, the LRS sandbox, and the sandbox with Ralph's
quirks (since on timestamp, no Consistent-Through, newest-first pages): the same core.completions
and the same credential states at the end, whichever LRS served it."""

from __future__ import annotations

import copy
import uuid
from datetime import date

import pytest
import requests

from credsync.warehouse import connect
from tests.integration.lrs_real.harness import (
    DAY,
    HOUR,
    MINUTE,
    TENANT,
    add_worker,
    completions,
    now_utc,
    statement,
    void,
)

pytestmark = pytest.mark.slow


def history() -> dict[str, list[dict]]:
    """Phase ``first`` before the first pull, ``late`` after it; ids fixed so every LRS gets the same."""
    now = now_utc()
    enrollment = str(uuid.uuid4())
    s1 = statement("passed", "FORKLIFT-200", "E1", now - 3 * HOUR, registration=enrollment)
    s2 = statement("passed", "CPR-101", "E2", now - 2 * HOUR, scaled=0.95)
    s3 = statement("failed", "FIRSTAID-110", "E3", now - 2 * HOUR + 5 * MINUTE, scaled=0.4)
    future = statement("passed", "CPR-101", "E1", "2999-01-01T00:00:00Z")
    nul = statement("passed", "CPR-101", "E3", now - 90 * MINUTE)
    nul["result"]["response"] = "a\u0000b"
    return {
        "first": [s1, s2, s3, future],
        "first_duplicate": [copy.deepcopy(s2)],  # the same statement sent twice: dedupes by id
        "first_raw": [nul],
        "late": [
            statement("passed", "FIRSTAID-110", "E3", now - 6 * HOUR, scaled=0.8),  # stored late, older timestamp
            void(s1, now - 3 * HOUR + MINUTE),  # late void of the forklift pass
            statement("passed", "FIRSTAID-110", "E2", now - 40 * DAY, scaled=0.85),  # older than any overlap
        ],
        "lms": [{
            "enrollment_id": enrollment, "user_external_id": "E1", "course_code": "FORKLIFT-200",
            "completion_status": "completed", "success_status": "passed",
            "score": {"raw": 90, "min": 0, "max": 100, "scaled": 0.9},
            "completed_at": s1["timestamp"], "updated_at": s1["timestamp"]}],
    }


def credential_states(conn) -> list[tuple]:
    return conn.execute("SELECT employee_id, credential_type, status, status_reason FROM core.credentials"
                        " ORDER BY employee_id, credential_type, status").fetchall()


def run_history(kind: str, warehouse_url: str, events: dict, lrs_factory, lms_admin: str) -> dict[str, list]:
    from credsync.credentials.issuance import issue_credentials
    from credsync.credentials.keys import generate_signing_key, parse_signing_key
    from credsync.credentials.rules import load_rules

    conn = connect(warehouse_url, autocommit=True)
    for employee_id in ("E1", "E2", "E3"):
        add_worker(conn, employee_id)
    lrs, pipeline = lrs_factory(kind, warehouse_url)
    requests.post(f"{lms_admin}/admin/{TENANT}/completions", json=events["lms"], timeout=10).raise_for_status()
    lrs.post(events["first"])
    lrs.post(events["first_duplicate"])
    lrs.post(events["first_raw"], raw=True)
    key = parse_signing_key(generate_signing_key())

    def issue() -> None:
        issue_credentials(conn, tenant_id=TENANT, rules=load_rules(), signing_key=key, as_of=date.today())

    seen: dict[str, list] = {}
    pipeline.run()
    issue()
    seen["after_first"] = completions(conn)
    seen["credentials_first"] = credential_states(conn)
    for item in events["late"]:
        lrs.post([item])
    pipeline.run()
    seen["after_incremental"] = completions(conn)
    pipeline.run(reconcile=True)
    issue()
    seen["final"] = completions(conn)
    seen["credentials_final"] = credential_states(conn)
    seen["quarantine"] = conn.execute("SELECT record_key, rule FROM audit.quarantine ORDER BY 1, 2").fetchall()
    conn.close()
    return seen


def test_ralph_sandbox_and_quirky_sandbox_agree(lrs_factory, lms_admin, fresh_warehouse_url,
                                                second_warehouse_url, postgres_server) -> None:
    from credsync.warehouse import migrate

    events = history()
    ralph = run_history("ralph", fresh_warehouse_url, events, lrs_factory, lms_admin)
    sandbox = run_history("sandbox", second_warehouse_url, events, lrs_factory, lms_admin)
    name = postgres_server.temporary_database_name("credsync_test")
    third = postgres_server.create_database(name)
    try:
        migrate(third)
        quirky = run_history("quirky", third, events, lrs_factory, lms_admin)
    finally:
        postgres_server.drop_database(name)

    # The end state is the same whichever LRS served the history.
    assert ralph["final"] == sandbox["final"] == quirky["final"]
    assert ralph["credentials_final"] == sandbox["credentials_final"] == quirky["credentials_final"]
    assert ralph["quarantine"] == sandbox["quarantine"] == quirky["quarantine"]
    assert ralph["credentials_first"] == sandbox["credentials_first"]
    # And what that state is: 5 xAPI completions + the REST twin; the forklift pass and its twin voided;
    # the 40-day-late statement in (the reconciliation); the forklift credential revoked.
    final = {row[1]: row for row in ralph["final"]}
    assert len(final) == 6
    assert sorted(row[0] for row in ralph["final"]).count("lms_rest") == 1
    assert [row[8] for row in ralph["final"] if row[3] == "FORKLIFT-200"] == [True, True]
    assert ("E1", "forklift_operator", "revoked", "evidence_voided") in ralph["credentials_final"]
    assert {rule for _, rule in ralph["quarantine"]} == {"timestamp_not_future", "control_characters"}
    # The sandbox in Ralph's quirk mode behaves like Ralph at every step, not only at the end.
    assert ralph["after_first"] == quirky["after_first"]
    assert ralph["after_incremental"] == quirky["after_incremental"]
    # The spec-following sandbox filters since on stored: the 40-day-late one came without reconciliation.
    assert len(sandbox["after_incremental"]) == 6 and len(ralph["after_incremental"]) == 5
