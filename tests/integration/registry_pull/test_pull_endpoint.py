"""The registry pulls a tenant's records through credsync's pull endpoint (issue #18).

The endpoint's FastAPI app under uvicorn on loopback (real HTTP), a migrated Postgres with two
tenants' workers, credentials and completions, and the registry sandbox's own puller as the client.
Unauthenticated, forged, expired and cross-tenant requests are refused; no field outside the
registry mappings ever leaves; every read is on the tenant's audit chain.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import OctKey

from credsync.audit.chain import verify_chain
from credsync.registry_pull import tokens
from credsync.registry_pull.app import create_app
from credsync.registry_pull.clients import ClientConfigError, parse_settings
from credsync.registry_pull.records import allowed_fields
from credsync.warehouse import connect
from sandbox.registry.puller import PullRefused, fetch_token, pull_tenant
from tests.integration.people.test_hris_webhooks import serve
from tests.integration.registry_pull.conftest import LEARNERS, OTHER_SECRET, SECRET, SIGNING_KEY, settings


@pytest.fixture(scope="module")
def endpoint(warehouse) -> Iterator[str]:
    config = settings()
    with serve(create_app(settings=lambda: config, warehouse_url=lambda: warehouse)) as url:
        yield url


def test_the_registry_sandbox_pulls_every_learner_of_its_tenant_page_by_page(endpoint, warehouse) -> None:
    result = pull_tenant(endpoint, "national-registry", SECRET, "acme", page_size=3)

    assert result.pages == 3
    assert [learner["learner_id"] for learner in result.learners] == [f"E{n:03d}" for n in range(LEARNERS)]
    first = result.learners[0]
    assert first["credentials"] == [{
        "tenant_id": "acme", "learner_id": "E000", "learner_name": "Given0 Family0",
        "credential_type": "forklift_operator", "credential_version": "2026-01-05.v1",
        "issued_on": "2026-01-05", "expires_on": "2027-01-05", "issuer": "did:web:issuers.example:acme",
        "evidence_url": None, "credential_jwt": "eyJ.test.E000", "status": "active"}]
    assert first["training_records"] == [{"course_code": "FORK-100", "completed_on": "2026-01-04", "passed": True}]
    assert result.learners[1]["credentials"][0]["status"] == "revoked"


def test_no_field_outside_the_registry_mappings_ever_appears(endpoint) -> None:
    allowed = allowed_fields()
    learners = pull_tenant(endpoint, "national-registry", SECRET, "acme", page_size=50).learners
    assert learners
    for learner in learners:
        assert set(learner) <= allowed["learner"]
        for credential in learner["credentials"]:
            assert set(credential) <= allowed["credential"]
        for record in learner["training_records"]:
            assert set(record) <= allowed["training_record"]
    # What the warehouse holds and the mappings leave out: scores, emails, evidence, statement ids.
    text = json.dumps(learners)
    for private in ("e000@acme.example", "statement-", "91.5", "evidence_key", "score"):
        assert private not in text


def test_unauthenticated_forged_and_expired_tokens_are_refused(endpoint) -> None:
    url = f"{endpoint}/v1/tenants/acme/learners"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer not-a-token"}, timeout=10).status_code == 401

    claims = {"iss": tokens.ISSUER, "aud": tokens.AUDIENCE, "sub": "national-registry", "tenants": ["acme"],
              "iat": 0, "exp": 2_000_000_000}
    forged = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secrets.token_bytes(48)))
    refused = requests.get(url, headers={"Authorization": f"Bearer {forged}"}, timeout=10)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]

    expired = tokens.issue(settings(), settings().clients["national-registry"], now=1_000_000)["access_token"]
    assert requests.get(url, headers={"Authorization": f"Bearer {expired}"}, timeout=10).status_code == 401


def test_a_wrong_secret_or_grant_gets_no_token(endpoint) -> None:
    with pytest.raises(PullRefused) as wrong:
        fetch_token(endpoint, "national-registry", OTHER_SECRET)
    assert (wrong.value.status, wrong.value.body["error"]) == (401, "invalid_client")
    password = requests.post(f"{endpoint}/oauth/token", data={"grant_type": "password"},
                             auth=("national-registry", SECRET), timeout=10)
    assert (password.status_code, password.json()["error"]) == (400, "unsupported_grant_type")


def test_a_client_cannot_read_another_tenant_and_the_attempt_is_audited(endpoint, warehouse) -> None:
    token = fetch_token(endpoint, "national-registry", SECRET)
    for path in ("v1/tenants/globex/learners", "v1/tenants/globex/learners/E000", "v1/tenants/nosuch/learners"):
        refused = requests.get(f"{endpoint}/{path}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert refused.status_code == 403, path
        assert "may not read" in refused.json()["detail"]
    with connect(warehouse) as conn:
        refusals = conn.execute("SELECT detail->>'client_id' FROM audit.events WHERE tenant_id = 'globex'"
                                " AND event_type = 'registry_pull_refused'").fetchall()
        no_chain = conn.execute("SELECT count(*) FROM audit.events WHERE tenant_id = 'nosuch'").fetchone()[0]
    assert refusals == [("national-registry",), ("national-registry",)]
    assert no_chain == 0


def test_every_read_is_on_the_tenants_audit_chain_and_the_chain_verifies(endpoint, warehouse) -> None:
    with connect(warehouse) as conn:
        before = conn.execute("SELECT count(*) FROM audit.events WHERE tenant_id = 'acme'"
                              " AND event_type = 'registry_pull'").fetchone()[0]
    token = fetch_token(endpoint, "national-registry", SECRET)
    one = requests.get(f"{endpoint}/v1/tenants/acme/learners/E002", headers={"Authorization": f"Bearer {token}"},
                       timeout=10)
    assert one.status_code == 200 and one.json()["learner_id"] == "E002"
    missing = requests.get(f"{endpoint}/v1/tenants/acme/learners/E900", headers={"Authorization": f"Bearer {token}"},
                           timeout=10)
    assert missing.status_code == 404  # a completion alone is no registry record
    with connect(warehouse) as conn:
        rows = conn.execute("SELECT entity_type, entity_key, detail FROM audit.events WHERE tenant_id = 'acme'"
                            " AND event_type = 'registry_pull' ORDER BY event_id").fetchall()[before:]
        report = verify_chain(conn, "acme")
    assert [(kind, key, detail["client_id"], detail["credentials"]) for kind, key, detail in rows] == [
        ("learner", "E002", "national-registry", 1), ("learner", "E900", "national-registry", 0)]
    assert report.ok, report


def test_a_client_over_its_budget_is_told_when_to_come_back(warehouse) -> None:
    config = settings(budget=2)
    with serve(create_app(settings=lambda: config, warehouse_url=lambda: warehouse)) as url:
        token = fetch_token(url, "national-registry", SECRET)
        answers = [requests.get(f"{url}/v1/tenants/acme/learners/E000",
                                headers={"Authorization": f"Bearer {token}"}, timeout=10) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60


def test_a_bad_cursor_is_a_clear_400(endpoint) -> None:
    token = fetch_token(endpoint, "national-registry", SECRET)
    answer = requests.get(f"{endpoint}/v1/tenants/acme/learners", params={"cursor": "!!!"},
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert answer.status_code == 400 and "cursor" in answer.json()["detail"]


@pytest.mark.parametrize(("key", "extra", "message"), ids=["short key", "no clients", "plain secret", "no tenants"],
                         argvalues=[
    ("short", {"clients": {"r": {"secret_sha256": "0" * 64, "tenants": ["acme"]}}}, "at least 32 bytes"),
    (SIGNING_KEY, {}, "at least one client"),
    (SIGNING_KEY, {"clients": {"r": {"secret_sha256": "plain-secret", "tenants": ["acme"]}}}, "64 hex digits"),
    (SIGNING_KEY, {"clients": {"r": {"secret_sha256": "0" * 64, "tenants": []}}}, "non-empty list"),
])
def test_a_connection_that_cannot_work_is_refused_naming_the_field(key, extra, message) -> None:
    with pytest.raises(ClientConfigError, match=message):
        parse_settings(key, extra)
