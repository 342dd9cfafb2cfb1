"""The completion pull end to end: real LRS sandbox over HTTP, real Postgres, real GX gate, issuance."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from datetime import date
from pathlib import Path

import pytest
import requests

from credsync.credentials.issuance import issue_credentials
from credsync.credentials.keys import generate_signing_key, parse_signing_key
from credsync.credentials.rules import load_rules
from credsync.hooks.transport import BearerAuth, HTTPBasicAuth, HttpClient
from credsync.ingest.gate import BatchRejected, gate_batch
from credsync.ingest.watermarks import current_watermark
from credsync.learning.merge import merge_completions
from credsync.learning.pull import LMS_STREAM, LRS_STREAM, stage_pull
from credsync.learning.quality import CompletionGateThresholds, completion_gate
from credsync.paths import PROJECT_ROOT
from credsync.warehouse import connect

pytestmark = pytest.mark.slow
TENANT = "acme"
VERBS = "http://adlnet.gov/expapi/verbs/"
COURSE = "https://lms.acme.example/courses/"


@pytest.fixture(scope="module")
def lrs(tmp_path_factory):
    """A private LRS sandbox (empty, on a free port) so this module controls every statement."""
    from sandbox.launcher import generate_secrets, start_all

    env = generate_secrets(["acme", "globex"])
    with start_all(tmp_path_factory.mktemp("lrs"), env=env, names=["lrs"]) as running:
        key, secret = json.loads(env["SANDBOX_LRS_CREDENTIALS"])[TENANT]
        token = json.loads(env["SANDBOX_LMS_TOKENS"])[TENANT]
        yield running.url("lrs"), (key, secret), token


def inject(base: str, statements: list[dict]) -> None:
    requests.post(f"{base}/admin/{TENANT}/statements", json=statements, timeout=10).raise_for_status()


def stmt(verb: str, course: str, actor: dict, score: dict | None = None, **extra: object) -> dict:
    body = {"id": str(uuid.uuid4()), "actor": actor, "verb": {"id": VERBS + verb},
            "object": {"objectType": "Activity", "id": COURSE + course},
            "timestamp": "2025-05-01T10:00:00Z", "version": "1.0.3"}
    if score is not None:
        body["result"] = {"score": score, "success": verb != "failed"}
    body.update(extra)
    return body


def account(employee_id: str) -> dict:
    return {"objectType": "Agent", "account": {"homePage": "https://lms.acme.example", "name": employee_id}}


def add_worker(conn, employee_id: str, email: str) -> None:
    conn.execute(
        "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name, work_email,"
        " email_normalized, employment_status, employment_type, source_updated_at, mapping_version, last_batch_id)"
        " VALUES (%s, %s, 'hris_main', 'T', 'W', %s, lower(%s), 'active', 'employee', now(), 'v1', %s)",
        (TENANT, employee_id, email, email, str(uuid.uuid4())),
    )
    conn.commit()


def pull(conn, url: str, lrs_auth, lms_token, warehouse_url: str, *, max_share: float, full: bool = False):
    """One DAG run's worth of work: extract+stage, gate, merge (as the tasks call it)."""
    from credsync.hooks.lms import CompletionExport
    from credsync.hooks.lrs import StatementPull

    since_lrs = None if full else current_watermark(conn, TENANT, LRS_STREAM)
    since_lms = None if full else current_watermark(conn, TENANT, LMS_STREAM)
    statements = StatementPull(HttpClient.for_url(
        f"{url}/{TENANT}/xAPI/", auth=HTTPBasicAuth(*lrs_auth)), since=since_lrs, page_size=3)
    items = CompletionExport(HttpClient.for_url(
        f"{url}/{TENANT}/lms/api/v1/", auth=BearerAuth(lms_token)), updated_since=since_lms)
    batch, _ = stage_pull(conn, tenant_id=TENANT, statements=statements, lms_items=items)
    gate_batch(warehouse_url, completion_gate(CompletionGateThresholds(max_quarantine_share=max_share)),
               tenant_id=TENANT,
               batch_id=batch.batch_id)
    merged = merge_completions(conn, tenant_id=TENANT, batch_id=batch.batch_id,
                               watermarks={LRS_STREAM: statements.watermark, LMS_STREAM: items.watermark})
    return batch, merged, statements


def scalar(conn, sql: str, *args: object):
    return conn.execute(sql, args).fetchone()[0]


def test_pull_quarantines_holds_merges_and_issues_idempotently(lrs, fresh_warehouse_url, tmp_path,
                                                               monkeypatch) -> None:
    from sandbox.issuer_web.server import start

    url, lrs_auth, lms_token = lrs
    # The issuer's web origin, so the credentials' did:web issuer and status list resolve over HTTP.
    origin = start(tmp_path / "did-web")
    monkeypatch.setenv("CREDSYNC_ISSUER_BASE_URL", f"http://localhost:{origin.server_address[1]}")
    monkeypatch.setenv("CREDSYNC_DID_WEB_STORE", (tmp_path / "did-web").as_uri())
    conn = connect(fresh_warehouse_url, autocommit=True)
    add_worker(conn, "E1", "e1@acme.example")
    add_worker(conn, "E2", "Ann.Two@acme.example")
    forklift = stmt("passed", "FORKLIFT-200", account("E1"), {"scaled": 0.9})
    ann = {"mbox": "mailto:ann.two@acme.example"}
    hazmat_fail = stmt("failed", "HAZMAT-300", ann, {"raw": 30, "min": 0, "max": 50})
    sha1 = hashlib.sha1(b"mailto:Ann.Two@acme.example").hexdigest()  # noqa: S324 - xAPI mbox_sha1sum
    hazmat_retake = stmt("passed", "HAZMAT-300", {"mbox_sha1sum": sha1}, {"raw": 45, "min": 0, "max": 50})
    stranger = stmt("passed", "CPR-101", account("E9"), {"scaled": 0.95})
    bad = [
        stmt("passed", "CPR-101", {"objectType": "Agent", "name": "nobody"}, {"scaled": 0.9}),
        stmt("passed", "CPR-101", account("E1"), {"raw": 140, "min": 0, "max": 100}),
        stmt("passed", "CPR-101", account("E1"), {"scaled": 0.9}, timestamp="2999-01-01T00:00:00Z"),
        stmt("attempted", "CPR-101", account("E1"), {"scaled": 0.9}),
    ]
    inject(url, [forklift, hazmat_fail, hazmat_retake, stranger, *bad])
    requests.post(f"{url}/admin/{TENANT}/completions", timeout=10, json=[{
        "enrollment_id": "enr-safety-1", "user_external_id": "E1", "course_code": "SAFETY-100",
        "completion_status": "completed", "success_status": "unknown", "score": None,
        "completed_at": "2025-05-02T09:00:00Z", "updated_at": "2025-05-02T09:00:00Z"}]).raise_for_status()

    # 4 of 9 records are bad: the default 5% threshold blocks the batch and leaves core untouched.
    with pytest.raises(BatchRejected, match=r"quarantine_share"):
        pull(conn, url, lrs_auth, lms_token, fresh_warehouse_url, max_share=0.05)
    assert scalar(conn, "SELECT count(*) FROM core.completions") == 0
    assert scalar(conn, "SELECT status FROM audit.batches ORDER BY created_at LIMIT 1") == "rejected"
    assert current_watermark(conn, TENANT, LRS_STREAM) is None

    # The operator raises the threshold for this run: the good records proceed, the bad are quarantined.
    batch, merged, statements = pull(conn, url, lrs_auth, lms_token, fresh_warehouse_url, max_share=0.5)
    assert statements.pages >= 3  # page_size=3: the `more` links were followed
    assert (batch.records_in, batch.records_quarantined, batch.records_dead) == (9, 4, 0)
    assert batch.records_in == batch.records_loaded + batch.records_quarantined + batch.records_dead
    rules = {r for (r,) in conn.execute("SELECT rule FROM audit.quarantine WHERE batch_id = %s",
                                        (batch.batch_id,)).fetchall()}
    assert rules == {"actor_present", "score_in_range", "timestamp_not_future", "known_verb"}
    assert (merged.inserted, merged.held) == (4, 1)
    assert scalar(conn, "SELECT employee_id FROM core.completions WHERE source_id = %s", hazmat_retake["id"]) == "E2"
    assert scalar(conn, "SELECT score FROM core.completions WHERE source_id = %s", hazmat_retake["id"]) == 90
    assert scalar(conn, "SELECT actor_key FROM core.held_completions") == "account:E9"
    assert current_watermark(conn, TENANT, LRS_STREAM) is not None

    key = parse_signing_key(generate_signing_key())
    issued = issue_credentials(conn, tenant_id=TENANT, rules=load_rules(), signing_key=key, as_of=date(2025, 6, 1))
    assert issued.issued == 3  # forklift (E1), safety (E1), hazmat retake (E2)
    token = scalar(conn, "SELECT vc_jwt FROM core.credentials WHERE credential_type = 'forklift_operator'")
    assert third_party_verifies(token)

    # Same statements again (full re-pull): nothing new in core, no new credentials.
    counts_before = scalar(conn, "SELECT (SELECT count(*) FROM core.completions) + (SELECT count(*) FROM"
                                 " core.credentials) + (SELECT count(*) FROM core.held_completions)")
    _, again, _ = pull(conn, url, lrs_auth, lms_token, fresh_warehouse_url, max_share=0.5, full=True)
    rerun = issue_credentials(conn, tenant_id=TENANT, rules=load_rules(), signing_key=key, as_of=date(2025, 6, 1))
    assert (again.inserted, again.held, rerun.issued, rerun.renewed) == (0, 0, 0, 0)
    assert counts_before == scalar(conn, "SELECT (SELECT count(*) FROM core.completions) + (SELECT count(*) FROM"
                                         " core.credentials) + (SELECT count(*) FROM core.held_completions)")

    # The worker appears; the held completion is released. The forklift pass is voided: credential revoked.
    add_worker(conn, "E9", "e9@acme.example")
    inject(url, [{"id": str(uuid.uuid4()), "actor": {"mbox": "mailto:lms-admin@acme.example"},
                  "verb": {"id": VERBS + "voided"}, "object": {"objectType": "StatementRef", "id": forklift["id"]},
                  "version": "1.0.3"}])
    _, later, _ = pull(conn, url, lrs_auth, lms_token, fresh_warehouse_url, max_share=0.5)
    assert (later.released, later.voided) == (1, 1)
    result = issue_credentials(conn, tenant_id=TENANT, rules=load_rules(), signing_key=key, as_of=date(2025, 6, 1))
    assert result.revoked_evidence_voided == 1 and result.issued == 1  # E9's CPR
    assert scalar(conn, "SELECT status_reason FROM core.credentials WHERE credential_type = 'forklift_operator'") \
        == "evidence_voided"
    conn.close()


def third_party_verifies(token: str) -> bool:
    """did-jwt-vc, jose and the bitstring status list (npm) on the pipeline's credential, as a relying party."""
    verifiers = PROJECT_ROOT / "verifiers"
    if shutil.which("node") is None:
        pytest.skip("node not installed")
    if not Path(verifiers, "node_modules", "web-did-resolver").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=verifiers, check=True, capture_output=True)
    done = subprocess.run(["node", "verify.mjs", token], cwd=verifiers, capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout)["verified"] is True
