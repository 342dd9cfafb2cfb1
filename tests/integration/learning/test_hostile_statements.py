"""Statements an LRS accepted but the warehouse must not take as they are: NUL and control
characters, and a statement id re-sent with different content. Real LRS sandbox over HTTP,
real Postgres, real GX gate, the same calls the DAG's tasks make."""

from __future__ import annotations

import copy
import json
import uuid

import pytest
import requests

from credsync.hooks.transport import HTTPBasicAuth, HttpClient
from credsync.ingest.gate import gate_batch
from credsync.ingest.watermarks import current_watermark
from credsync.learning.merge import merge_completions
from credsync.learning.pull import LRS_STREAM, stage_pull
from credsync.learning.quality import CompletionGateThresholds, completion_gate
from credsync.warehouse import connect

pytestmark = pytest.mark.slow
TENANT = "acme"
VERBS = "http://adlnet.gov/expapi/verbs/"
COURSE = "https://lms.acme.example/courses/"
XAPI = {"X-Experience-API-Version": "1.0.3"}


@pytest.fixture(scope="module")
def lrs(tmp_path_factory):
    """A private LRS sandbox, so this module controls every statement in it."""
    from sandbox.launcher import generate_secrets, start_all

    env = generate_secrets([TENANT])
    with start_all(tmp_path_factory.mktemp("lrs"), env=env, names=["lrs"]) as running:
        key, secret = json.loads(env["SANDBOX_LRS_CREDENTIALS"])[TENANT]
        yield running.url("lrs"), (key, secret)


@pytest.fixture
def empty_lrs(lrs):
    requests.post(f"{lrs[0]}/admin/reset", timeout=10).raise_for_status()
    return lrs


def send(lrs, statements: list[dict]) -> None:
    """Through the xAPI API, as an LMS would: the LRS validates and accepts them."""
    url, auth = lrs
    response = requests.post(f"{url}/{TENANT}/xAPI/statements", json=statements, auth=auth, headers=XAPI, timeout=10)
    assert response.status_code == 200, response.text


def stmt(employee_id: str, course: str, scaled: float = 0.9, **extra: object) -> dict:
    body = {"id": str(uuid.uuid4()),
            "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.acme.example", "name": employee_id}},
            "verb": {"id": VERBS + "passed"},
            "object": {"objectType": "Activity", "id": COURSE + course,
                       "definition": {"name": {"en-US": f"Course {course}"}}},
            "result": {"score": {"scaled": scaled}, "success": True, "response": "all answers given"},
            "timestamp": "2025-05-01T10:00:00Z", "version": "1.0.3"}
    body.update(extra)
    return body


def fillers(count: int) -> list[dict]:
    """Ordinary good statements, so the record under test is one of 20 (as in a real pull)."""
    return [stmt("E1", f"FILLER-{n}") for n in range(count)]


def add_worker(conn, employee_id: str) -> None:
    conn.execute(
        "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name, work_email,"
        " email_normalized, employment_status, employment_type, source_updated_at, mapping_version, last_batch_id)"
        " VALUES (%s, %s, 'hris_main', 'T', 'W', %s, %s, 'active', 'employee', now(), 'v1', %s)",
        (TENANT, employee_id, f"{employee_id.lower()}@acme.example", f"{employee_id.lower()}@acme.example",
         str(uuid.uuid4())),
    )


def pull(conn, lrs, warehouse_url: str, *, full: bool = False):
    """One DAG run: extract + stage, gate (default thresholds), merge with the watermark."""
    from credsync.hooks.lrs import StatementPull

    url, auth = lrs
    since = None if full else current_watermark(conn, TENANT, LRS_STREAM)
    statements = StatementPull(HttpClient.for_url(
        f"{url}/{TENANT}/xAPI/", auth=HTTPBasicAuth(*auth)), since=since, page_size=7)
    batch, _ = stage_pull(conn, tenant_id=TENANT, statements=statements)
    gate_batch(warehouse_url, completion_gate(CompletionGateThresholds()), tenant_id=TENANT, batch_id=batch.batch_id)
    merged = merge_completions(conn, tenant_id=TENANT, batch_id=batch.batch_id,
                               watermarks={LRS_STREAM: statements.watermark} if statements.watermark else {})
    return batch, merged


def scalar(conn, sql: str, *args: object):
    return conn.execute(sql, args).fetchone()[0]


def quarantined(conn, batch_id: str) -> list[tuple]:
    return conn.execute("SELECT record_key, rule, reason, record FROM audit.quarantine WHERE batch_id = %s",
                        (batch_id,)).fetchall()


def test_a_nul_byte_quarantines_its_statement_and_the_19_good_ones_load(empty_lrs, fresh_warehouse_url) -> None:
    conn = connect(fresh_warehouse_url, autocommit=True)
    for n in range(1, 6):
        add_worker(conn, f"E{n}")
    good = [stmt(f"E{n % 5 + 1}", f"COURSE-{n}") for n in range(19)]
    bad = stmt("E1", "FORKLIFT-200")
    bad["result"]["response"] = "lift\u0000 height 3m"
    bad["object"]["definition"]["name"]["en-US"] = "Fork\u0007lift"  # a second control character, BEL
    send(empty_lrs, [*good[:10], bad, *good[10:]])

    batch, merged = pull(conn, empty_lrs, fresh_warehouse_url)

    assert (batch.records_in, batch.records_loaded, batch.records_quarantined) == (20, 19, 1)
    assert merged.inserted == 19
    assert scalar(conn, "SELECT count(*) FROM core.completions") == 19
    assert scalar(conn, "SELECT count(*) FROM core.completions WHERE source_id = %s", bad["id"]) == 0
    [(key, rule, reason, record)] = quarantined(conn, batch.batch_id)
    assert (key, rule) == (bad["id"], "control_characters")
    assert bad["id"] in reason and "U+0000" in reason
    assert "object.definition.name.en-US" in reason and "result.response" in reason
    # The quarantined copy is stored (jsonb cannot hold \u0000) and the exact original is recoverable.
    original = json.loads(record["statement_json"])
    assert original["result"]["response"] == "lift\u0000 height 3m"
    assert original["object"]["definition"]["name"]["en-US"] == "Fork\u0007lift"
    assert record["statement"]["result"]["response"] == "lift\\u0000 height 3m"
    # Parked records do not hold the stream back: the watermark moved past the bad statement.
    stored = requests.get(f"{empty_lrs[0]}/{TENANT}/xAPI/statements", params={"statementId": bad["id"]},
                          auth=empty_lrs[1], headers=XAPI, timeout=10).json()["stored"]
    watermark = current_watermark(conn, TENANT, LRS_STREAM)
    assert watermark is not None and watermark >= stored  # both fixed-width UTC text

    # The next run adds nothing: nothing new to pull, nothing new in core or quarantine.
    rerun, again = pull(conn, empty_lrs, fresh_warehouse_url)
    assert (rerun.records_in, again.inserted) == (0, 0)
    assert scalar(conn, "SELECT count(*) FROM audit.quarantine") == 1
    # A full re-pull stages the same 20 again: core does not change.
    _, full = pull(conn, empty_lrs, fresh_warehouse_url, full=True)
    assert (full.inserted, full.held) == (0, 0)
    assert scalar(conn, "SELECT count(*) FROM core.completions") == 19
    conn.close()


def test_a_re_sent_id_with_different_content_is_quarantined_naming_both_versions(
    empty_lrs, fresh_warehouse_url
) -> None:
    conn = connect(fresh_warehouse_url, autocommit=True)
    add_worker(conn, "E1")
    first = stmt("E1", "FORKLIFT-200", scaled=0.9)
    send(empty_lrs, [first])
    first_batch, merged = pull(conn, empty_lrs, fresh_warehouse_url)
    assert merged.inserted == 1
    before = conn.execute("SELECT score, verb, course_code, batch_id, loaded_at FROM core.completions"
                          " WHERE source_id = %s", (first["id"],)).fetchone()

    # The LRS is rebuilt from an export in which the statement was altered (the LRS itself answers 409
    # to a different statement under a stored id, so this is how a second version reaches the pull).
    requests.post(f"{empty_lrs[0]}/admin/reset", timeout=10).raise_for_status()
    altered = copy.deepcopy(first)
    altered["result"]["score"]["scaled"] = 0.4
    altered["object"]["id"] = COURSE + "HAZMAT-300"
    send(empty_lrs, [*fillers(19), altered])  # 1 in 20: within the gate's default 5% share
    batch, merged = pull(conn, empty_lrs, fresh_warehouse_url)

    assert (batch.records_in, batch.records_quarantined, merged.inserted) == (20, 1, 19)
    [(key, rule, reason, record)] = quarantined(conn, batch.batch_id)
    assert (key, rule) == (first["id"], "conflicting_duplicate")
    assert first["id"] in reason and first_batch.batch_id in reason
    first_hash = scalar(conn, "SELECT content_hash FROM core.completions WHERE source_id = %s", first["id"])
    assert first_hash and first_hash in reason
    assert record["result"]["score"]["scaled"] == 0.4  # the record holds the new version
    assert record["object"]["id"] == COURSE + "HAZMAT-300"
    after = conn.execute("SELECT score, verb, course_code, batch_id, loaded_at FROM core.completions"
                         " WHERE source_id = %s", (first["id"],)).fetchone()
    assert after == before, "the first stored version must stay as it was"

    # The identical statement re-sent (new `stored` and `authority`, same content) is a silent no-op.
    requests.post(f"{empty_lrs[0]}/admin/reset", timeout=10).raise_for_status()
    send(empty_lrs, [first])
    resent, merged = pull(conn, empty_lrs, fresh_warehouse_url)
    assert (resent.records_in, resent.records_quarantined, merged.inserted) == (1, 0, 0)
    assert quarantined(conn, resent.batch_id) == []
    assert conn.execute("SELECT score, verb, course_code, batch_id, loaded_at FROM core.completions"
                        " WHERE source_id = %s", (first["id"],)).fetchone() == before
    conn.close()


def test_a_re_sent_voiding_statement_aimed_at_another_completion_is_quarantined(
    empty_lrs, fresh_warehouse_url
) -> None:
    conn = connect(fresh_warehouse_url, autocommit=True)
    add_worker(conn, "E1")
    keep, target = stmt("E1", "CPR-101"), stmt("E1", "FORKLIFT-200")
    void = {"id": str(uuid.uuid4()), "actor": {"mbox": "mailto:lms-admin@acme.example"},
            "verb": {"id": VERBS + "voided"}, "object": {"objectType": "StatementRef", "id": target["id"]},
            "version": "1.0.3"}
    send(empty_lrs, [keep, target])
    pull(conn, empty_lrs, fresh_warehouse_url)
    send(empty_lrs, [void])
    assert pull(conn, empty_lrs, fresh_warehouse_url)[1].voided == 1

    # Rebuilt LRS: the voiding statement's id now aims at the completion that was never voided.
    requests.post(f"{empty_lrs[0]}/admin/reset", timeout=10).raise_for_status()
    send(empty_lrs, [*fillers(19), {**void, "object": {"objectType": "StatementRef", "id": keep["id"]}}])
    batch, merged = pull(conn, empty_lrs, fresh_warehouse_url)

    [(key, rule, reason, _)] = quarantined(conn, batch.batch_id)
    assert (key, rule) == (void["id"], "conflicting_duplicate") and "core.voided_statements" in reason
    assert merged.voided == 0
    assert scalar(conn, "SELECT voided FROM core.completions WHERE source_id = %s", keep["id"]) is False
    conn.close()
