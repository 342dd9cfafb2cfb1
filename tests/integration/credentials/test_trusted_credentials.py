"""Issued credentials, as third parties see them: did:web over loopback HTTP, trust, forgery, rotation, status.

Real parts: Postgres, the issuance flow (``issue_credentials``: the credential_issuance DAG's task body),
publication through ``ObjectStoragePath`` to a file:// store served by an HTTP origin, the registry sandbox
over HTTP, and verifiers credsync did not write (did-jwt-vc + web resolution, jose and
@digitalbazaar/vc-bitstring-status-list via ``verifiers/verify.mjs``; the 1EdTech OB 3.0 JSON Schema).
"""

from __future__ import annotations

import base64
import json
import subprocess
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from credsync.credentials import did_web, issuer_store
from credsync.credentials.issuance import issue_credentials
from credsync.credentials.issuers import Issuer, tenant_issuer_did
from credsync.credentials.keys import SigningKeyError, generate_signing_key, parse_signing_key
from credsync.credentials.publish import publish_issuer
from credsync.credentials.vc import CredentialClaims, Evidence, sign_credential
from credsync.credentials.verify import FileResolver, Resolver, verify
from tests.integration.credentials.conftest import (
    add_completion,
    add_worker,
    module_tenants,
    openbadgeslib_verify,
    tokens,
    trusted,
)
from tests.integration.sandbox.test_registry_contract import token as registry_token
from tests.integration.sandbox.test_registry_contract import verify as registry_verify

AS_OF = date(2025, 6, 1)
NOW = datetime(2025, 6, 2, tzinfo=UTC)
TENANTS = module_tenants("t", 16)


def issue(conn, tenant, rules, key, as_of=AS_OF):
    return issue_credentials(conn, tenant_id=tenant, rules=rules, signing_key=key, as_of=as_of, run_id="test")


def node(verifiers: Path, *jwts: str, env: dict[str, str] | None = None) -> list[dict]:
    done = subprocess.run(["node", "verify.mjs", "-"], cwd=verifiers, input="\n".join(jwts), capture_output=True,
                          text=True, timeout=120, env=env)
    assert done.stdout, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def forklift_worker(conn, tenant, employee_id="E1", when="2025-05-01T10:00:00") -> str:
    add_worker(conn, tenant, employee_id)
    return add_completion(conn, tenant, employee_id, "FORKLIFT-200", when, score=88)


def claims_for(employee_id: str, *, issue_date=date(2025, 5, 1), status=None) -> CredentialClaims:
    return CredentialClaims(
        credential_id=str(uuid.uuid4()), tenant_id="x", employee_id=employee_id,
        credential_type="forklift_operator", achievement_name="Forklift operator", issuer_name="credsync-training",
        rule_id="FORKLIFT-OP", rule_version="1", issue_date=issue_date, expiry_date=date(2099, 1, 1),
        evidence=Evidence(["s-1"], 88.0, datetime(2025, 5, 1, tzinfo=UTC), ["FORKLIFT-200"]), status=status,
    )


def test_issued_credential_is_published_and_verifies_over_http(conn, web_env, tenant, rules, key) -> None:
    forklift_worker(conn, tenant)
    result = issue(conn, tenant, rules, key)
    assert result.issued == 1
    assert result.published == {"did_document_written": True, "lists_written": 1, "lists_unchanged": 0}
    [jwt] = tokens(conn, tenant).values()
    did = tenant_issuer_did(tenant, web_env.base_url)
    assert (web_env.root / "issuers" / tenant / "did.json").is_file()
    verdict = verify(jwt, trusted=trusted(web_env, TENANTS), now=NOW)
    assert verdict.valid, verdict.reasons
    assert verdict.issuer == did and verdict.key_id == f"{did}#{key.key_id}"
    assert verdict.status == {"revocation": False}
    import requests

    served = requests.get(f"{web_env.base_url}/issuers/{tenant}/did.json", timeout=5)
    listing = requests.get(verdict.credential["credentialStatus"]["statusListCredential"], timeout=5)
    assert served.headers["Content-Type"] == "application/did+json"
    assert (listing.headers["Content-Type"], listing.headers["Cache-Control"]) == \
        ("application/vc+jwt", "public, max-age=300")
    # Fully offline: the same checks from a copy of the published folder.
    offline = verify(jwt, trusted=trusted(web_env, TENANTS), resolver=FileResolver(web_env.root), now=NOW)
    assert offline.valid, offline.reasons


def test_rerun_changes_nothing_and_republishes_nothing(conn, web_env, tenant, rules, key) -> None:
    forklift_worker(conn, tenant)
    issue(conn, tenant, rules, key)
    before = conn.execute("SELECT credential_id, list_index FROM core.credential_status s JOIN core.credentials c"
                          " USING (credential_id) WHERE c.tenant_id = %s", (tenant,)).fetchall()
    again = issue(conn, tenant, rules, key)
    assert (again.issued, again.renewed) == (0, 0)
    assert again.published == {"did_document_written": False, "lists_written": 0, "lists_unchanged": 1}
    after = conn.execute("SELECT credential_id, list_index FROM core.credential_status s JOIN core.credentials c"
                         " USING (credential_id) WHERE c.tenant_id = %s", (tenant,)).fetchall()
    assert before == after and len(after) == 1


def test_third_party_verifiers_accept_issued_and_reject_tampered(conn, web_env, tenant, rules, key,
                                                                 node_verifier) -> None:
    for employee in ("E1", "E2", "E3"):
        forklift_worker(conn, tenant, employee)
    issue(conn, tenant, rules, key)
    jwts = list(tokens(conn, tenant).values())
    outcomes = node(node_verifier, *jwts)
    assert [o["verified"] for o in outcomes] == [True] * 3, outcomes
    assert all(o["checks"] == {"didJwtVc": True, "jose": True, "status": True} for o in outcomes)
    assert all(o["revoked"] is False for o in outcomes)
    header, payload, signature = jwts[0].split(".")
    tampered = ".".join([header, payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB"), signature])
    [bad] = node(node_verifier, tampered)
    assert bad["verified"] is False and bad["checks"]["didJwtVc"] is False and bad["checks"]["jose"] is False
    assert not verify(tampered, trusted=trusted(web_env, TENANTS), now=NOW).valid
    # openbadgeslib: a second, Python vc+jwt stack (PyJWT), status list signature included.
    assert [openbadgeslib_verify(jwt) for jwt in jwts] == [None] * 3
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["name"] = "Crane operator"  # still JSON, still the same issuer: only the signature can tell
    renamed = ".".join([header, base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("="), signature])
    assert openbadgeslib_verify(renamed) == "Invalid signature"
    [renamed_outcome] = node(node_verifier, renamed)
    assert renamed_outcome["verified"] is False
    assert not verify(renamed, trusted=trusted(web_env, TENANTS), now=NOW).valid


def test_forged_key_credential_is_rejected_by_every_verifier(conn, web_env, tenant, rules, key, node_verifier,
                                                             registry) -> None:
    """Same issuer DID, same shape, same kid, signed by a freshly generated key — and a variant naming
    the forger's own key id."""
    forklift_worker(conn, tenant)
    issue(conn, tenant, rules, key)
    [genuine] = tokens(conn, tenant).values()
    forger = parse_signing_key(generate_signing_key())
    real_issuer = Issuer.for_tenant(tenant, key, base_url=web_env.base_url)
    same_kid = _resign_as(genuine, real_issuer, forger, keep_kid=True)
    own_kid = _resign_as(genuine, real_issuer, forger, keep_kid=False)
    ours = [verify(f, trusted=trusted(web_env, TENANTS), now=NOW) for f in (same_kid, own_kid)]
    assert "signature does not verify" in ours[0].reasons[0]
    assert "is not listed for assertion" in ours[1].reasons[0]
    outcomes = node(node_verifier, genuine, same_kid, own_kid)
    assert [o["verified"] for o in outcomes] == [True, False, False], outcomes
    assert [o["checks"].get("didJwtVc") for o in outcomes] == [True, False, False]
    assert [o["checks"].get("jose") for o in outcomes] == [True, False, False]
    assert openbadgeslib_verify(genuine) is None
    assert openbadgeslib_verify(same_kid) is not None and openbadgeslib_verify(own_kid) is not None
    access = registry_token(registry)
    answers = [registry_verify(registry, access, jwt) for jwt in (genuine, same_kid, own_kid)]
    assert [a["valid"] for a in answers] == [True, False, False], answers
    assert "signature does not verify" in answers[1]["reasons"][0]
    assert "not listed for assertion" in answers[2]["reasons"][0]


def _resign_as(genuine: str, issuer: Issuer, forger, *, keep_kid: bool) -> str:
    from joserfc import jws
    from joserfc.jwk import OKPKey

    payload = json.loads(jws.extract_compact(genuine.encode()).payload)
    kid = issuer.key_method_id if keep_kid else f"{issuer.did}#{forger.key_id}"
    header = {"alg": "EdDSA", "typ": "vc+jwt", "cty": "vc", "kid": kid}
    return jws.serialize_compact(header, json.dumps(payload).encode(), OKPKey.import_key(forger.private_jwk),
                                 algorithms=["EdDSA"])


def test_untrusted_issuer_is_refused_even_when_its_own_document_lists_the_key(conn, web_env, tenant, rules,
                                                                              key, registry) -> None:
    """A look-alike issuer that publishes a perfectly valid DID document of its own is still not trusted."""
    impostor = Issuer.for_tenant("impostor-" + tenant, key, base_url=web_env.base_url)
    with conn.cursor() as cur:
        issuer_store.register_key(cur, impostor)
    publish_issuer(conn, impostor)
    jwt = sign_credential(claims_for("E9"), impostor)
    verdict = verify(jwt, trusted=trusted(web_env, TENANTS), now=NOW)
    assert verdict.reasons == [f"issuer {impostor.did} is not on the trust list"]
    answer = registry_verify(registry, registry_token(registry), jwt)
    assert answer["valid"] is False and "trust list" in answer["reasons"][0]


def test_rotation_keeps_old_credentials_valid_and_refuses_a_retired_key(conn, web_env, tenant, rules, key,
                                                                        node_verifier, registry) -> None:
    forklift_worker(conn, tenant, "E1")
    issue(conn, tenant, rules, key)
    new_key = parse_signing_key(generate_signing_key())
    forklift_worker(conn, tenant, "E2")
    issue(conn, tenant, rules, new_key)  # the connection now holds the new key: that is a rotation
    by_worker = tokens(conn, tenant)
    did = tenant_issuer_did(tenant, web_env.base_url)
    listed = did_web.resolve(did)
    assert set(listed) == {f"{did}#{key.key_id}", f"{did}#{new_key.key_id}"}

    # After E1's and E2's credentials were signed (published to the second).
    retired_on = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
    with conn.cursor() as cur:
        assert issuer_store.retire_key(cur, did, key.key_id, retired_on, "rotated")
    publish_issuer(conn, Issuer.for_tenant(tenant, new_key, base_url=web_env.base_url))
    assert did_web.resolve(did)[f"{did}#{key.key_id}"].expires is not None

    old_issuer = Issuer.for_tenant(tenant, key, base_url=web_env.base_url)
    after_retirement = sign_credential(claims_for("E3"), old_issuer, signed_at=retired_on + timedelta(hours=1))
    checks = {name: verify(jwt, trusted=trusted(web_env, TENANTS), resolver=Resolver(), now=NOW, check_status=False)
              for name, jwt in (("old", by_worker["E1:forklift_operator"]),
                                ("new", by_worker["E2:forklift_operator"]), ("late", after_retirement))}
    assert checks["old"].valid, checks["old"].reasons
    assert checks["new"].valid, checks["new"].reasons
    assert "after its retirement" in checks["late"].reasons[0]
    access = registry_token(registry)
    answers = [registry_verify(registry, access, by_worker["E1:forklift_operator"]),
               registry_verify(registry, access, after_retirement)]
    assert answers[0]["valid"] is True, answers[0]
    assert answers[1]["valid"] is False and "retired" in answers[1]["reasons"][0]
    outcomes = node(node_verifier, by_worker["E1:forklift_operator"], by_worker["E2:forklift_operator"])
    assert [o["verified"] for o in outcomes] == [True, True], outcomes
    assert openbadgeslib_verify(by_worker["E1:forklift_operator"]) is None
    assert openbadgeslib_verify(by_worker["E2:forklift_operator"]) is None
    # Issuing with the retired key is refused, naming what to do.
    forklift_worker(conn, tenant, "E4")
    with pytest.raises(SigningKeyError, match="retired"):
        issue(conn, tenant, rules, key)


def test_revocation_flips_the_bit_and_every_verifier_sees_it(conn, web_env, tenant, rules, key, node_verifier,
                                                             registry) -> None:
    """The real revocation path: a voided completion revokes its credential on the next issuance run."""
    statement = forklift_worker(conn, tenant, "E1")
    forklift_worker(conn, tenant, "E2")
    issue(conn, tenant, rules, key)
    jwts = tokens(conn, tenant)
    revoked_jwt, kept_jwt = jwts["E1:forklift_operator"], jwts["E2:forklift_operator"]
    conn.execute("UPDATE core.completions SET voided = true, voided_at = now() WHERE tenant_id = %s"
                 " AND source_id = %s", (tenant, statement))
    result = issue(conn, tenant, rules, key)
    assert result.revoked_evidence_voided == 1
    assert result.published["lists_written"] == 1

    ours = verify(revoked_jwt, trusted=trusted(web_env, TENANTS), now=NOW)
    assert ours.reasons == ["revoked by the issuer"] and ours.status == {"revocation": True}
    assert verify(kept_jwt, trusted=trusted(web_env, TENANTS), now=NOW).valid
    outcomes = node(node_verifier, revoked_jwt, kept_jwt)
    assert [(o["revoked"], o["checks"]["status"]) for o in outcomes] == [(True, True), (False, True)], outcomes
    assert [o["verified"] for o in outcomes] == [False, True]
    assert "is set at index" in openbadgeslib_verify(revoked_jwt)
    assert openbadgeslib_verify(kept_jwt) is None
    answers = [registry_verify(registry, registry_token(registry), jwt) for jwt in (revoked_jwt, kept_jwt)]
    assert [a["valid"] for a in answers] == [False, True], answers
    assert "revocation bit" in answers[0]["reasons"][0]
    audit = conn.execute("SELECT count(*) FROM audit.events WHERE tenant_id = %s AND event_type = 'credential.revoked'"
                         " AND detail->>'reason' = 'evidence_voided'", (tenant,)).fetchone()[0]
    assert audit == 1


def test_every_rule_and_a_renewal_validate_against_the_official_ob3_schema(conn, web_env, tenant, rules,
                                                                           key) -> None:
    """Every credential shape the demo issues (each rule, a course set, a renewal) against the 1EdTech schema."""
    from joserfc import jws
    from jsonschema import Draft201909Validator

    from credsync.credentials.verify import SCHEMA_PATH

    add_worker(conn, tenant, "E1")
    for course in ("CPR-101", "FIRSTAID-110", "FORKLIFT-200", "HAZMAT-300", "SAFETY-100"):
        add_completion(conn, tenant, "E1", course, "2025-05-01T10:00:00", score=95)
    issue(conn, tenant, rules, key)
    add_completion(conn, tenant, "E1", "SAFETY-100", "2026-04-20T10:00:00", score=95)
    renewed = issue(conn, tenant, rules, key, as_of=date(2026, 4, 21))
    assert renewed.renewed == 1
    rows = conn.execute("SELECT credential_type, vc_jwt, award_id, credential_id FROM core.credentials"
                        " WHERE tenant_id = %s", (tenant,)).fetchall()
    assert {r[0] for r in rows} == {"cpr_aed", "first_aid", "first_responder", "forklift_operator",
                                    "hazmat_handling", "workplace_safety"}
    validator = Draft201909Validator(json.loads(SCHEMA_PATH.read_text()))
    payloads = [json.loads(jws.extract_compact(jwt.encode()).payload) for _, jwt, _, _ in rows]
    for payload in payloads:
        assert [e.message for e in validator.iter_errors(payload)] == [], payload["credentialSubject"]
    safety = sorted((p for p in payloads if "SAFETY" in p["evidence"][0]["name"]), key=lambda p: p["validFrom"])
    assert len(safety) == 2 and safety[0]["id"] == safety[1]["id"]  # one award, re-issued
    assert safety[1]["awardedDate"] == safety[0]["awardedDate"] < safety[1]["validFrom"]
    assert len({p["credentialStatus"]["statusListIndex"] for p in payloads}) == len(payloads)


def test_offline_command_verifies_from_a_copy_of_the_published_files(conn, web_env, tenant, rules, key,
                                                                     tmp_path) -> None:
    import os
    import shutil
    import sys

    from credsync.paths import PROJECT_ROOT

    forklift_worker(conn, tenant)
    issue(conn, tenant, rules, key)
    [jwt] = tokens(conn, tenant).values()
    copy = tmp_path / "published"
    shutil.copytree(web_env.root, copy)
    trust = tmp_path / "trust.yaml"
    trust.write_text(f"issuers:\n  - did: {tenant_issuer_did(tenant, web_env.base_url)}\n")
    env = {**os.environ, "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}"}
    command = [sys.executable, "-m", "credsync.credentials", "verify", "--files", str(copy), "--trust-list",
               str(trust), "--at", "2025-06-02T00:00:00+00:00"]
    good = subprocess.run([*command, jwt], capture_output=True, text=True, env=env, timeout=60)
    assert good.returncode == 0 and good.stdout.startswith("VALID urn:uuid:"), good.stdout + good.stderr
    untrusted = tmp_path / "empty.yaml"
    untrusted.write_text("issuers: []\n")
    bad = subprocess.run([*command[:-4], "--trust-list", str(untrusted), jwt], capture_output=True, text=True,
                         env=env, timeout=60)
    assert bad.returncode == 1 and "is not on the trust list" in bad.stdout


def test_runbook_commands_retire_a_key_and_republish_a_lost_status_list(conn, web_env, tenant, rules, key,
                                                                         warehouse_url) -> None:
    """docs/runbook.md, *Credential keys and status lists*: retire-key, and publish after a lost write."""
    import os
    import sys

    from credsync.paths import PROJECT_ROOT

    statement = forklift_worker(conn, tenant)
    issue(conn, tenant, rules, key)
    [jwt] = tokens(conn, tenant).values()
    env = {**os.environ, "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}",
           "AIRFLOW_CONN_CREDSYNC_SIGNING_KEY": json.dumps({"conn_type": "generic",
                                                            "password": json.dumps(key.private_jwk)})}
    cli = [sys.executable, "-m", "credsync.credentials"]

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*cli, *args], capture_output=True, text=True, env=env, timeout=120)

    # A revocation whose status list write was lost: the published file is stale.
    conn.execute("UPDATE core.completions SET voided = true, voided_at = now() WHERE tenant_id = %s"
                 " AND source_id = %s", (tenant, statement))
    listing = web_env.root / "issuers" / tenant / "status" / "revocation-1"
    stale = listing.read_bytes()
    issue(conn, tenant, rules, key)
    listing.write_bytes(stale)
    conn.execute("UPDATE core.status_lists SET published_sha256 = 'lost' WHERE issuer_did = %s",
                 (tenant_issuer_did(tenant, web_env.base_url),))
    assert verify(jwt, trusted=trusted(web_env, TENANTS), now=NOW).valid  # what the verifier saw: "still valid"
    published = run("publish", "--warehouse", warehouse_url, "--tenant", tenant)
    assert published.returncode == 0 and '"lists_written": 1' in published.stdout, published.stderr
    assert verify(jwt, trusted=trusted(web_env, TENANTS), now=NOW).reasons == ["revoked by the issuer"]

    refused = run("retire-key", "--warehouse", warehouse_url, "--tenant", tenant, "--key-id", key.key_id,
                  "--reason", "rotated")
    assert refused.returncode == 2 and "rotate first" in refused.stdout
    new_key = parse_signing_key(generate_signing_key())  # rotation: the connection gets the new key
    env["AIRFLOW_CONN_CREDSYNC_SIGNING_KEY"] = json.dumps({"conn_type": "generic",
                                                          "password": json.dumps(new_key.private_jwk)})
    retired = run("retire-key", "--warehouse", warehouse_url, "--tenant", tenant, "--key-id", key.key_id,
                  "--reason", "rotated")
    assert retired.returncode == 0, retired.stdout + retired.stderr
    did = tenant_issuer_did(tenant, web_env.base_url)
    assert did_web.resolve(did)[f"{did}#{key.key_id}"].expires is not None
    events = conn.execute("SELECT count(*) FROM audit.events WHERE tenant_id = %s"
                          " AND event_type = 'issuer.key_retired'", (tenant,)).fetchone()[0]
    assert events == 1
    again = run("retire-key", "--warehouse", warehouse_url, "--tenant", tenant, "--key-id", key.key_id,
                "--reason", "rotated")
    assert again.returncode == 1 and "unchanged: " in again.stdout
    # The lists are now signed by the new key; the revoked credential (old key, signed before) still reads revoked.
    assert verify(jwt, trusted=trusted(web_env, TENANTS), now=NOW).reasons == ["revoked by the issuer"]


@pytest.mark.parametrize(("did_json", "list_body", "reason"), [
    ("{not json", None, "DID document of"),
    (json.dumps({"id": "did:web:someone-else"}), None, "is not the document of"),
    (None, "not-a-jws", "status list"),
    (None, "gzip-bomb", "expands past"),
])
def test_registry_refuses_malformed_documents_and_lists_with_a_reason(web_env, key, did_json, list_body,
                                                                      reason) -> None:
    """The sandbox's own resolver (in-process, over the loopback origin) on hostile published files."""
    from credsync.credentials import status
    from credsync.credentials.publish import sign_payload, status_list_token
    from sandbox.registry.verification import verify_credential

    tenant = f"hostile{uuid.uuid4().hex[:8]}"
    issuer = web_env.issuer(tenant, key)
    folder = web_env.root / "issuers" / tenant
    (folder / "status").mkdir(parents=True)
    document = did_web.build_document(issuer.did, [did_web.PublishedKey(key.key_id, key.public_jwk())])
    (folder / "did.json").write_text(did_json if did_json is not None else json.dumps(document))
    if list_body == "gzip-bomb":
        bomb = status.encode(bytearray(17 * 1024 * 1024))
        listing = status.list_credential(issuer.did, issuer.base, "revocation", 1, bomb, "2025-01-01T00:00:00Z")
        list_body = sign_payload({**listing, "iss": issuer.did}, issuer)
    (folder / "status" / "revocation-1").write_text(
        list_body if list_body is not None else status_list_token(issuer, "revocation", 1, status.LIST_SIZE, [])[0])
    jwt = sign_credential(claims_for("E1", status=status.status_entry(issuer.base, "revocation", 1, 7)), issuer)
    result = verify_credential(jwt, trusted=frozenset([issuer.did]))
    assert result.valid is False
    assert any(reason in r for r in result.reasons), result.reasons
