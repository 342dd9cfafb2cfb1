"""A late void in the real Ralph LRS of the only evidence of a credential issued from the LMS REST copy:
revoked in core, revoked in the registry sandbox, and the HRIS profile and payroll flag updated, through
the same functions the DAG tasks call (lms_completion_pull, credential_issuance, registry push, write-back)."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
import requests

from credsync.warehouse import connect
from tests.integration.lrs_real.harness import HOUR, MINUTE, TENANT, add_worker, now_utc, statement, void

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def delivery_sandboxes(tmp_path_factory):
    from sandbox.launcher import generate_secrets, start_all

    env = generate_secrets([TENANT, "globex"])
    with start_all(tmp_path_factory.mktemp("void-delivery"), env=env, names=["registry", "hris"]) as running:
        yield running


def test_late_void_of_the_rest_twin_evidence_revokes_everywhere(lrs_factory, lms_admin, fresh_warehouse_url,
                                                                delivery_sandboxes, tmp_path) -> None:
    from types import SimpleNamespace

    from credsync.credentials.issuance import issue_credentials
    from credsync.credentials.keys import generate_signing_key, parse_signing_key
    from credsync.credentials.rules import load_rules
    from credsync.delivery.push import push_submissions
    from credsync.delivery.writeback import sync_writebacks
    from credsync.hooks.hris import HrisClient
    from credsync.hooks.policy import Timeouts
    from tests.integration.delivery.conftest import TEST_SETTINGS, registry_client_for
    from tests.integration.delivery.helpers import put_hris_workers

    env = delivery_sandboxes.env
    client_id, entry = next(iter(json.loads(env["SANDBOX_REGISTRY_CLIENTS"]).items()))
    registry = registry_client_for(SimpleNamespace(base_url=delivery_sandboxes.url("registry"),
                                                   client_id=client_id, client_secret=entry["secret"]))
    hris = HrisClient.for_url(delivery_sandboxes.url("hris"), TENANT, json.loads(env["SANDBOX_HRIS_TOKENS"])[TENANT],
                              policy=TEST_SETTINGS.retry, timeouts=Timeouts(2, 2))
    put_hris_workers(delivery_sandboxes.url("hris"), TENANT, ["E1"])
    conn = connect(fresh_warehouse_url, autocommit=True)
    add_worker(conn, "E1")
    lrs, pipeline = lrs_factory("ralph", fresh_warehouse_url)
    key = parse_signing_key(generate_signing_key())
    today = date.today()

    def deliver() -> None:
        issue_credentials(conn, tenant_id=TENANT, rules=load_rules(), signing_key=key, as_of=today)
        push_submissions(fresh_warehouse_url, TENANT, registry, settings=TEST_SETTINGS)
        sync_writebacks(fresh_warehouse_url, TENANT, hris, as_of=today, payroll_dir=tmp_path)

    def registry_status() -> str:
        (certificate,) = [c for c in registry.list_certificates(TENANT) if c["credential_type"] == "forklift_operator"]
        return certificate["status"]

    def hris_profile() -> dict:
        return hris.http.request("GET", f"/api/v1/tenants/{TENANT}/workers/E1").json()

    now = now_utc()
    enrollment = str(uuid.uuid4())
    passed = statement("passed", "FORKLIFT-200", "E1", now - 2 * HOUR, registration=enrollment)
    lrs.post([passed])
    requests.post(f"{lms_admin}/admin/{TENANT}/completions", timeout=10, json=[{
        "enrollment_id": enrollment, "user_external_id": "E1", "course_code": "FORKLIFT-200",
        "completion_status": "completed", "success_status": "passed",
        "score": {"raw": 90, "min": 0, "max": 100, "scaled": 0.9},
        "completed_at": passed["timestamp"], "updated_at": passed["timestamp"]}]).raise_for_status()
    pipeline.run()
    deliver()
    assert registry_status() == "active"
    assert hris_profile()["payroll_flags"][0]["active"] is True

    # The void is stored late, dated back near the completion: only the overlap brings it.
    lrs.post([void(passed, now - 2 * HOUR + MINUTE)])
    assert pipeline.run()["voided"] == 2
    deliver()
    assert conn.execute("SELECT status, status_reason FROM core.credentials").fetchone() == ("revoked",
                                                                                             "evidence_voided")
    assert registry_status() == "revoked"
    profile = hris_profile()
    assert profile["certifications"][0]["status"] == "revoked"
    assert profile["payroll_flags"][0]["active"] is False
    conn.close()
