"""Data Integrity (eddsa-rdfc-2022) credentials, as third parties see them.

Real parts: Postgres, the issuance flow (``issue_credentials`` with the tenant's format), publication through
``ObjectStoragePath`` to a file:// store served over loopback HTTP, the registry sandbox over HTTP (its
proof check is openbadgeslib's), and verifiers credsync did not write: @digitalbazaar/vc +
@digitalbazaar/data-integrity + @digitalbazaar/eddsa-rdfc-2022-cryptosuite with
@digitalbazaar/vc-bitstring-status-list (``verifiers/verify_di.mjs``), and openbadgeslib's OB3LdpVerifier.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from credsync.credentials import data_integrity, did_web, issuer_store
from credsync.credentials.issuance import issue_credentials
from credsync.credentials.issuers import Issuer, load_trust_list, tenant_issuer_did
from credsync.credentials.keys import generate_signing_key, parse_signing_key
from credsync.credentials.publish import publish_issuer
from credsync.credentials.verify import FileResolver, Resolver, verify
from credsync.delivery.payload import build_certificate
from tests.integration.credentials.conftest import add_completion, add_worker, module_tenants, tokens, trusted
from tests.integration.sandbox.test_registry_contract import token as registry_token
from tests.integration.sandbox.test_registry_contract import verify as registry_verify

AS_OF = date(2025, 6, 1)
NOW = datetime(2025, 6, 2, tzinfo=UTC)
DI = data_integrity.FORMAT
TENANTS = module_tenants("d", 8)


def issue(conn, tenant, rules, key, as_of=AS_OF):
    return issue_credentials(conn, tenant_id=tenant, rules=rules, signing_key=key, as_of=as_of, run_id="test",
                             credential_format=DI)


def forklift_worker(conn, tenant, employee_id="E1") -> str:
    add_worker(conn, tenant, employee_id)
    return add_completion(conn, tenant, employee_id, "FORKLIFT-200", "2025-05-01T10:00:00", score=88)


def node_di(verifiers: Path, *credentials: str | dict) -> list[dict]:
    lines = [c if isinstance(c, str) else json.dumps(c) for c in credentials]
    done = subprocess.run(["node", "verify_di.mjs", "-"], cwd=verifiers, input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=180)
    assert done.stdout, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def openbadgeslib_di(credential: str | dict) -> str | None:
    """openbadgeslib's OB 3.0 Data Integrity verifier, anchored to the claimed issuer, status list included.

    Its did:web fetcher builds https:// URLs; on loopback the origin is plain HTTP (as in the vc+jwt helper).
    """
    import requests
    from openbadgeslib.ob3.ldp import OB3LdpVerifier
    from openbadgeslib.ob3.verifier import OB3VerificationError

    def download(url: str, *_args: object, **_kwargs: object) -> bytes:
        assert url.startswith(("https://localhost:", "http://localhost:")), url
        response = requests.get(url.replace("https://", "http://", 1), timeout=10)
        response.raise_for_status()
        return response.content

    document = json.loads(credential) if isinstance(credential, str) else credential
    try:
        OB3LdpVerifier.for_issuer_did(document["issuer"]["id"]).verify(document, check_status=True,
                                                                       download=download)
    except (OB3VerificationError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return None


def forge(genuine: str, issuer: Issuer, *, keep_method: bool) -> dict:
    """The genuine credential's content, proof made by a freshly generated key."""
    forger = parse_signing_key(generate_signing_key())
    impostor = Issuer(issuer.tenant_id, issuer.did, issuer.base, issuer.name, forger)
    unsecured = {k: v for k, v in json.loads(genuine).items() if k != "proof"}
    forged = data_integrity.sign_document(unsecured, impostor)
    if keep_method:
        # Same verificationMethod as the real key: the proof options change, so re-sign over them.
        options = data_integrity.proof_options(unsecured["@context"], issuer.key_method_id,
                                               forged["proof"][0]["created"])
        signature = forger.ed25519_private_key.sign(data_integrity.hash_data(unsecured, options))
        forged["proof"] = [{**{k: v for k, v in options.items() if k != "@context"},
                            "proofValue": "z" + data_integrity.base58btc(signature)}]
    return forged


def test_di_credentials_are_issued_published_and_accepted_by_every_verifier(conn, web_env, tenant, rules, key,
                                                                            node_verifier, registry) -> None:
    for employee in ("E1", "E2", "E3"):
        forklift_worker(conn, tenant, employee)
    result = issue(conn, tenant, rules, key)
    assert result.issued == 3 and result.published["lists_written"] == 1
    texts = list(tokens(conn, tenant).values())
    assert all(data_integrity.is_data_integrity(t) for t in texts)
    documents = [json.loads(t) for t in texts]
    did = tenant_issuer_did(tenant, web_env.base_url)
    assert {d["proof"][0]["verificationMethod"] for d in documents} == {f"{did}#{key.key_id}"}

    for text in texts:
        ours = verify(text, trusted=trusted(web_env, TENANTS), now=NOW)
        assert ours.valid and ours.status == {"revocation": False}, ours.reasons
        assert verify(text, trusted=trusted(web_env, TENANTS), resolver=FileResolver(web_env.root), now=NOW).valid

    outcomes = node_di(node_verifier, *texts)
    assert [o["verified"] for o in outcomes] == [True] * 3, outcomes
    assert all(o["checks"] == {"proof": True, "status": True} and o["revoked"] is False for o in outcomes)
    assert [openbadgeslib_di(t) for t in texts] == [None] * 3

    access = registry_token(registry)
    answers = [registry_verify(registry, access, texts[0])]
    answers.append(_verify_object(registry, access, documents[1]))
    assert [a["valid"] for a in answers] == [True, True], answers

    # The registry push carries the credential as the tenant secures it, within the contract's limit.
    certificate = build_certificate({
        "credential.tenant_id": tenant, "credential.employee_id": "E1", "worker.legal_name": "Test Worker",
        "credential.credential_type": "forklift_operator", "credential.version_tag": "2025-06-01.v1",
        "credential.issue_date": AS_OF, "credential.expiry_date": None, "credential.issuer": "credsync-training",
        "credential.evidence_url": None, "credential.vc_jwt": texts[0]})
    assert json.loads(certificate["credential_jwt"]) == documents[0]


def _verify_object(registry: str, access: str, document: dict) -> dict:
    import requests

    response = requests.post(f"{registry}/v1/verify", json={"credential": document},
                             headers={"Authorization": f"Bearer {access}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_tampered_and_forged_di_credentials_are_rejected_everywhere(conn, web_env, tenant, rules, key,
                                                                   node_verifier, registry) -> None:
    forklift_worker(conn, tenant)
    issue(conn, tenant, rules, key)
    [genuine] = tokens(conn, tenant).values()
    issuer = Issuer.for_tenant(tenant, key, base_url=web_env.base_url)
    tampered = json.loads(genuine)
    tampered["credentialSubject"]["achievement"]["name"] = "Crane operator"
    same_method = forge(genuine, issuer, keep_method=True)
    own_method = forge(genuine, issuer, keep_method=False)
    bad = [tampered, same_method, own_method]

    ours = [verify(c, trusted=trusted(web_env, TENANTS), now=NOW) for c in bad]
    assert "does not verify" in ours[0].reasons[0] and "does not verify" in ours[1].reasons[0]
    assert "is not listed for assertion" in ours[2].reasons[0]

    outcomes = node_di(node_verifier, genuine, *bad)
    assert [o["verified"] for o in outcomes] == [True, False, False, False], outcomes
    assert [o["checks"].get("proof") for o in outcomes] == [True, False, False, False]

    assert openbadgeslib_di(genuine) is None
    assert all(openbadgeslib_di(c) is not None for c in bad)

    access = registry_token(registry)
    answers = [_verify_object(registry, access, c) for c in bad]
    assert [a["valid"] for a in answers] == [False, False, False], answers
    assert "proof does not verify" in answers[0]["reasons"][0]
    assert "not listed for assertion" in answers[2]["reasons"][0]


def test_revocation_is_reported_by_the_status_check_while_the_list_verifies(conn, web_env, tenant, rules, key,
                                                                           node_verifier, registry) -> None:
    """The real revocation path: a voided completion revokes its credential on the next issuance run."""
    statement = forklift_worker(conn, tenant, "E1")
    forklift_worker(conn, tenant, "E2")
    issue(conn, tenant, rules, key)
    by_worker = tokens(conn, tenant)
    revoked, kept = by_worker["E1:forklift_operator"], by_worker["E2:forklift_operator"]
    conn.execute("UPDATE core.completions SET voided = true, voided_at = now() WHERE tenant_id = %s"
                 " AND source_id = %s", (tenant, statement))
    result = issue(conn, tenant, rules, key)
    assert result.revoked_evidence_voided == 1 and result.published["lists_written"] == 1

    ours = verify(revoked, trusted=trusted(web_env, TENANTS), now=NOW)
    assert ours.reasons == ["revoked by the issuer"] and ours.status == {"revocation": True}
    assert verify(kept, trusted=trusted(web_env, TENANTS), now=NOW).valid
    outcomes = node_di(node_verifier, revoked, kept)
    # The list credential verified (status check true) and the revoked credential's bit is set.
    assert [(o["checks"]["proof"], o["checks"]["status"], o["revoked"]) for o in outcomes] == \
        [(True, True, True), (True, True, False)], outcomes
    assert [o["verified"] for o in outcomes] == [False, True]
    assert openbadgeslib_di(revoked) is not None and openbadgeslib_di(kept) is None
    answers = [registry_verify(registry, registry_token(registry), c) for c in (revoked, kept)]
    assert [a["valid"] for a in answers] == [False, True], answers
    assert "revocation bit" in answers[0]["reasons"][0]


def test_rotation_keeps_old_di_credentials_valid_and_refuses_a_retired_key(conn, web_env, tenant, rules, key,
                                                                           node_verifier, registry) -> None:
    forklift_worker(conn, tenant, "E1")
    issue(conn, tenant, rules, key)
    new_key = parse_signing_key(generate_signing_key())
    forklift_worker(conn, tenant, "E2")
    issue(conn, tenant, rules, new_key)
    by_worker = tokens(conn, tenant)
    did = tenant_issuer_did(tenant, web_env.base_url)
    retired_on = (datetime.now(UTC) + timedelta(seconds=1)).replace(microsecond=0)
    with conn.cursor() as cur:
        assert issuer_store.retire_key(cur, did, key.key_id, retired_on, "rotated")
    publish_issuer(conn, Issuer.for_tenant(tenant, new_key, base_url=web_env.base_url))
    assert did_web.resolve(did)[f"{did}#{key.key_id}"].expires is not None

    old_issuer = Issuer.for_tenant(tenant, key, base_url=web_env.base_url)
    unsecured = {k: v for k, v in json.loads(by_worker["E1:forklift_operator"]).items() if k != "proof"}
    late = data_integrity.sign_document(unsecured, old_issuer, created=retired_on + timedelta(hours=1))
    checks = [verify(c, trusted=trusted(web_env, TENANTS), resolver=Resolver(), now=NOW, check_status=False)
              for c in (by_worker["E1:forklift_operator"], by_worker["E2:forklift_operator"], late)]
    assert checks[0].valid and checks[1].valid, (checks[0].reasons, checks[1].reasons)
    assert "after its retirement" in checks[2].reasons[0]
    access = registry_token(registry)
    answers = [registry_verify(registry, access, by_worker["E1:forklift_operator"]),
               _verify_object(registry, access, late)]
    assert answers[0]["valid"] is True, answers[0]
    assert answers[1]["valid"] is False and "retired" in answers[1]["reasons"][0]
    outcomes = node_di(node_verifier, by_worker["E1:forklift_operator"], by_worker["E2:forklift_operator"])
    assert [o["verified"] for o in outcomes] == [True, True], outcomes


def test_offline_command_verifies_di_credentials_from_a_copy_of_the_published_files(conn, web_env, tenant, rules,
                                                                                    key, tmp_path) -> None:
    for employee in ("E1", "E2"):
        forklift_worker(conn, tenant, employee)
    issue(conn, tenant, rules, key)
    texts = list(tokens(conn, tenant).values())
    trust = tmp_path / "trust.yaml"
    trust.write_text("issuers:\n  - did: " + tenant_issuer_did(tenant, web_env.base_url) + "\n")
    pretty = tmp_path / "credentials.json"
    pretty.write_text("\n".join(json.dumps(json.loads(t), indent=2) for t in texts))
    command = [".venv/bin/python", "-m", "credsync.credentials", "verify", str(pretty), "--files",
               str(web_env.root), "--trust-list", str(trust), "--at", NOW.isoformat()]
    from credsync.paths import PROJECT_ROOT

    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT}/plugins"})
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("VALID ") == 2 and "2 valid, 0 invalid of 2" in done.stdout
    tampered = copy.deepcopy(json.loads(texts[0]))
    tampered["validUntil"] = "2199-01-01T00:00:00Z"
    pretty.write_text(json.dumps([tampered]))
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT}/plugins"})
    assert done.returncode == 1 and "INVALID" in done.stdout and "does not verify" in done.stdout, done.stdout


def test_each_configured_tenant_issues_in_its_format_as_the_dag_calls_it(fresh_warehouse_url, web_env, rules,
                                                                         key) -> None:
    """include/tenants.yaml: acme vc+jwt (the default), globex eddsa-rdfc-2022 — what ``make demo`` issues.
    Called as the credential_issuance DAG's task does, without a format."""
    from credsync.credentials.formats import load_formats
    from credsync.warehouse import connect

    configured = load_formats()
    assert (configured["acme"], configured["globex"]) == ("vc+jwt", DI)
    with connect(fresh_warehouse_url, autocommit=True) as conn:
        for tenant_id in ("acme", "globex"):
            forklift_worker(conn, tenant_id)
            issue_credentials(conn, tenant_id=tenant_id, rules=rules, signing_key=key, as_of=AS_OF)
        acme, globex = tokens(conn, "acme")["E1:forklift_operator"], tokens(conn, "globex")["E1:forklift_operator"]
    assert acme.startswith("ey") and acme.count(".") == 2
    assert json.loads(globex)["proof"][0]["cryptosuite"] == DI
    demo_trust = load_trust_list(tenants=["acme", "globex"], base_url=web_env.base_url)
    for text in (acme, globex):
        verdict = verify(text, trusted=demo_trust, now=NOW)
        assert verdict.valid, verdict.reasons
