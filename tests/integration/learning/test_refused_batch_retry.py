"""A learning pull the gate refuses, retried: the window stays one batch, its quarantine one row per
(record, rule); the documented unblock (the limit raised for one run) merges that batch and the
counts reconcile. Real LRS/LMS sandbox over HTTP, real Postgres, real GX gate, the calls the DAG's
tasks make (``stage_pull`` with the hooks' ``StatementPull`` / ``CompletionExport``)."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from credsync.hooks.transport import BearerAuth, HTTPBasicAuth, HttpClient
from credsync.ingest.gate import BatchRejected, gate_batch
from credsync.ingest.watermarks import current_watermark
from credsync.learning.merge import merge_completions
from credsync.learning.pull import LMS_STREAM, LRS_STREAM, stage_pull
from credsync.learning.quality import CompletionGateThresholds, completion_gate
from credsync.warehouse import connect

pytestmark = pytest.mark.slow
TENANT = "acme"
VERBS = "http://adlnet.gov/expapi/verbs/"
COURSE = "https://lms.acme.example/courses/"


@pytest.fixture(scope="module")
def lrs(tmp_path_factory):
    """A private LRS/LMS sandbox, so this module controls every statement and completion in it."""
    from sandbox.launcher import generate_secrets, start_all

    env = generate_secrets([TENANT])
    with start_all(tmp_path_factory.mktemp("lrs"), env=env, names=["lrs"]) as running:
        key, secret = json.loads(env["SANDBOX_LRS_CREDENTIALS"])[TENANT]
        token = json.loads(env["SANDBOX_LMS_TOKENS"])[TENANT]
        yield running.url("lrs"), (key, secret), token


def stmt(employee_id: str | None, course: str, verb: str = "passed", raw_score: int = 90) -> dict:
    actor = ({"objectType": "Agent", "account": {"homePage": "https://lms.acme.example", "name": employee_id}}
             if employee_id else {"objectType": "Agent", "name": "nobody"})
    return {"id": str(uuid.uuid4()), "actor": actor, "verb": {"id": VERBS + verb},
            "object": {"objectType": "Activity", "id": COURSE + course},
            "result": {"score": {"raw": raw_score, "min": 0, "max": 100}, "success": True},
            "timestamp": "2025-05-01T10:00:00Z", "version": "1.0.3"}


def add_worker(conn, employee_id: str) -> None:
    email = f"{employee_id.lower()}@acme.example"
    conn.execute(
        "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name, work_email,"
        " email_normalized, employment_status, employment_type, source_updated_at, mapping_version, last_batch_id)"
        " VALUES (%s, %s, 'hris_main', 'T', 'W', %s, %s, 'active', 'employee', now(), 'v1', %s)",
        (TENANT, employee_id, email, email, str(uuid.uuid4())))


def pull(conn, lrs, warehouse_url: str, *, max_share: float = 0.05):
    """One DAG run for the tenant: extract + stage (both streams, from their watermarks), gate, merge."""
    from credsync.hooks.lms import CompletionExport
    from credsync.hooks.lrs import StatementPull

    url, auth, token = lrs
    statements = StatementPull(HttpClient.for_url(f"{url}/{TENANT}/xAPI/", auth=HTTPBasicAuth(*auth)),
                               since=current_watermark(conn, TENANT, LRS_STREAM), page_size=7)
    items = CompletionExport(HttpClient.for_url(f"{url}/{TENANT}/lms/api/v1/", auth=BearerAuth(token)),
                             updated_since=current_watermark(conn, TENANT, LMS_STREAM))
    batch, _ = stage_pull(conn, tenant_id=TENANT, statements=statements, lms_items=items)
    gate_batch(warehouse_url, completion_gate(CompletionGateThresholds(max_quarantine_share=max_share)),
               tenant_id=TENANT,
               batch_id=batch.batch_id)
    watermarks = {k: v for k, v in {LRS_STREAM: statements.watermark, LMS_STREAM: items.watermark}.items() if v}
    return batch, merge_completions(conn, tenant_id=TENANT, batch_id=batch.batch_id, watermarks=watermarks)


def rows(conn, sql: str, *args: object) -> list[tuple]:
    return conn.execute(sql, args).fetchall()


def test_a_refused_pull_retried_twice_keeps_one_quarantine_row_per_record_and_rule(lrs, fresh_warehouse_url):
    url = lrs[0]
    requests.post(f"{url}/admin/reset", timeout=10).raise_for_status()
    conn = connect(fresh_warehouse_url, autocommit=True)
    for n in range(1, 4):
        add_worker(conn, f"E{n}")
    good = [stmt(f"E{n % 3 + 1}", f"COURSE-{n}") for n in range(16)]
    bad = {"known_verb": stmt("E1", "CPR-101", verb="attempted"),
           "actor_present": stmt(None, "CPR-101"),
           "score_in_range": stmt("E2", "CPR-101", raw_score=140)}
    requests.post(f"{url}/admin/{TENANT}/statements", json=[*good[:8], *bad.values(), *good[8:]],
                  timeout=10).raise_for_status()
    requests.post(f"{url}/admin/{TENANT}/completions", timeout=10, json=[{
        "enrollment_id": "enr-safety-1", "user_external_id": "E1", "course_code": "SAFETY-100",
        "completion_status": "completed", "success_status": "unknown", "score": None,
        "completed_at": "2025-05-02T09:00:00Z", "updated_at": "2025-05-02T09:00:00Z"}]).raise_for_status()
    expected = sorted((s["id"], rule) for rule, s in bad.items())

    # 3 of 20 records are bad (15 % > 5 %): refused, and refused again on each of two retries.
    for _ in range(3):
        with pytest.raises(BatchRejected, match="quarantine_share"):
            pull(conn, lrs, fresh_warehouse_url)
    per_record = rows(conn, "SELECT record_key, rule, count(*) FROM audit.quarantine GROUP BY 1, 2 ORDER BY 1, 2")
    assert [(key, rule) for key, rule, _ in per_record] == expected
    assert [n for _, _, n in per_record] == [1, 1, 1], "a retry of the refused batch quarantined its records again"
    [(batch_id, status, attempts, counts)] = rows(
        conn, "SELECT batch_id::text, status, attempts, ARRAY[records_in, records_loaded, records_quarantined,"
              " records_dead] FROM audit.batches WHERE tenant_id = %s AND source = 'lms'", TENANT)
    assert (status, attempts) == ("rejected", 3), "the retries are the same batch"
    assert counts == [20, 0, 3, 0], "a refused batch loaded nothing"
    assert rows(conn, "SELECT count(*) FROM core.completions") == [(0,)]
    assert current_watermark(conn, TENANT, LRS_STREAM) is None

    # The documented unblock: one run with the limit raised. The same batch merges; counts reconcile.
    batch, merged = pull(conn, lrs, fresh_warehouse_url, max_share=0.5)
    assert batch.batch_id == batch_id
    assert (batch.records_in, batch.records_loaded, batch.records_quarantined, batch.records_dead) == (20, 17, 3, 0)
    assert rows(conn, "SELECT status, attempts, records_in, records_loaded, records_quarantined, records_dead"
                      " FROM audit.batches WHERE batch_id = %s", batch_id) == [("merged", 4, 20, 17, 3, 0)]
    assert merged.inserted == 17
    assert rows(conn, "SELECT count(*) FROM core.completions WHERE batch_id = %s", batch_id) == [(17,)]
    assert rows(conn, "SELECT record_key, rule FROM audit.quarantine ORDER BY 1, 2") == expected
    assert current_watermark(conn, TENANT, LRS_STREAM) is not None

    # The next run (from the moved watermarks; the LMS export's updated_since is inclusive, so the
    # latest completion comes again) adds nothing: no completion, no quarantine row.
    again, rerun = pull(conn, lrs, fresh_warehouse_url)
    assert again.batch_id != batch_id and again.records_quarantined == 0
    assert (rerun.inserted, rerun.held) == (0, 0)
    assert rows(conn, "SELECT count(*) FROM core.completions") == [(17,)]
    assert rows(conn, "SELECT record_key, rule FROM audit.quarantine ORDER BY 1, 2") == expected
    conn.close()
