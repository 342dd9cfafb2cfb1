"""The credential format against the official 1EdTech OB 3.0 schema, and our verifier on local files.

Third-party verifiers over HTTP are in tests/integration/credentials/.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from jsonschema import Draft201909Validator

from credsync.credentials import did_web, status
from credsync.credentials.issuers import Issuer
from credsync.credentials.keys import SigningKeyError, generate_signing_key, parse_signing_key
from credsync.credentials.publish import status_list_token
from credsync.credentials.vc import CredentialClaims, Evidence, build_credential, identity_hash, sign_credential
from credsync.credentials.verify import SCHEMA_PATH, FileResolver, verify
from credsync.paths import PROJECT_ROOT

SHARED_SCHEMA = PROJECT_ROOT.parent / "shared" / "schemas" / "ob3" / "ob_v3p0_achievementcredential_schema.json"
BASE = "http://localhost:8089"
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def claims(**overrides: object) -> CredentialClaims:
    values: dict[str, object] = {
        "credential_id": "3f1c2a9e-1111-4222-8333-444455556666",
        "tenant_id": "acme",
        "employee_id": "E00042",
        "credential_type": "forklift_operator",
        "achievement_name": "Forklift operator",
        "issuer_name": "credsync-training",
        "rule_id": "FORKLIFT-OP",
        "rule_version": "1",
        "issue_date": date(2025, 3, 1),
        "expiry_date": date(2099, 3, 1),
        "evidence": Evidence(
            source_ids=["6f1e7c9a-0000-4000-8000-000000000001"],
            score=88.0,
            completed_at=datetime(2025, 3, 1, 9, 30, tzinfo=UTC),
            course_codes=["FORKLIFT-200"],
        ),
        "status": status.status_entry(f"{BASE}/issuers/acme", "revocation", 1, 4242),
    }
    values.update(overrides)
    return CredentialClaims(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer.for_tenant("acme", parse_signing_key(generate_signing_key()), base_url=BASE)


@pytest.fixture
def published(tmp_path: Path, issuer: Issuer) -> Path:
    """A copy of what credsync publishes for the issuer (DID document + empty revocation list)."""
    folder = tmp_path / "issuers" / "acme"
    (folder / "status").mkdir(parents=True)
    key = did_web.PublishedKey(issuer.key.key_id, issuer.key.public_jwk())
    (folder / "did.json").write_text(json.dumps(did_web.build_document(issuer.did, [key])))
    token, _ = status_list_token(issuer, "revocation", 1, status.LIST_SIZE, [])
    (folder / "status" / "revocation-1").write_text(token)
    return tmp_path


def ob3_validator() -> Draft201909Validator:
    return Draft201909Validator(json.loads(SCHEMA_PATH.read_text()))


def test_committed_schema_is_the_official_copy() -> None:
    if not SHARED_SCHEMA.is_file():
        pytest.skip(f"the shared 1EdTech schema folder is absent ({SHARED_SCHEMA}); the committed copy is used")
    assert SCHEMA_PATH.read_bytes() == SHARED_SCHEMA.read_bytes()
    assert json.loads(SCHEMA_PATH.read_text())["$schema"].startswith("https://json-schema.org/draft/2019-09")


def test_credential_validates_against_the_official_ob3_schema(issuer) -> None:
    credential = build_credential(claims(image_url="https://img.example/forklift.png"), issuer.did)
    errors = [e.message for e in ob3_validator().iter_errors(credential)]
    assert errors == []
    assert credential["@context"][0] == "https://www.w3.org/ns/credentials/v2"
    assert credential["credentialSchema"] == [{
        "id": "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json",
        "type": "1EdTechJsonSchemaValidator2019"}]
    assert credential["credentialSubject"]["achievement"]["image"]["type"] == "Image"


def test_the_schema_check_can_fail() -> None:
    """The schema rejects what the 2024 revision rejects: the VC 1.1 shape credsync used to issue."""
    old_shape = {"@context": ["https://www.w3.org/2018/credentials/v1",
                              "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
                 "id": "urn:uuid:1", "type": ["VerifiableCredential", "OpenBadgeCredential"],
                 "issuer": {"id": "did:key:z6Mk", "type": ["Profile"]}, "issuanceDate": "2025-01-01T00:00:00Z",
                 "credentialSubject": {"type": ["AchievementSubject"], "achievement": {
                     "id": "urn:a", "type": ["Achievement"], "name": "n", "description": "d", "criteria": {}}}}
    messages = " ".join(e.message for e in ob3_validator().iter_errors(old_shape))
    assert "validFrom" in messages and "credentials/v2" in messages


def test_subject_carries_no_personal_data_only_a_salted_hash(issuer) -> None:
    credential = build_credential(claims(), issuer.did, salt="a1b2")
    text = json.dumps(credential)
    assert "E00042" not in text
    [identity] = credential["credentialSubject"]["identifier"]
    assert identity == {"type": "IdentityObject", "identityHash": identity_hash("E00042", "a1b2"),
                        "identityType": "ext:hrisEmployeeId", "hashed": True, "salt": "a1b2"}
    assert identity["identityHash"].startswith("sha256$") and len(identity["identityHash"]) == 7 + 64


def test_renewal_keeps_the_award_id_with_a_newer_valid_from(issuer) -> None:
    first = build_credential(claims(), issuer.did)
    renewal = build_credential(claims(credential_id="99999999-1111-4222-8333-444455556666",
                                      award_id="3f1c2a9e-1111-4222-8333-444455556666",
                                      issue_date=date(2026, 3, 1), awarded_date=date(2025, 3, 1)), issuer.did)
    assert renewal["id"] == first["id"] == "urn:uuid:3f1c2a9e-1111-4222-8333-444455556666"
    assert renewal["validFrom"] > first["validFrom"]
    assert renewal["awardedDate"] == first["awardedDate"] == "2025-03-01T00:00:00Z"


def test_vc_jwt_payload_is_the_credential_with_mirroring_claims(issuer) -> None:
    token = sign_credential(claims(), issuer)
    header, payload = (json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in token.split(".")[:2])
    assert header == {"alg": "EdDSA", "typ": "vc+jwt", "cty": "vc", "kid": issuer.key_method_id}
    assert payload["iss"] == payload["issuer"]["id"] == issuer.did
    assert payload["nbf"] == int(datetime(2025, 3, 1, tzinfo=UTC).timestamp())
    assert payload["exp"] == int(datetime(2099, 3, 2, tzinfo=UTC).timestamp())
    assert "vc" not in payload


def test_verifier_accepts_from_published_files_and_rejects_tampering(issuer, published) -> None:
    token = sign_credential(claims(), issuer)
    resolver = FileResolver(published)
    verdict = verify(token, trusted=frozenset([issuer.did]), resolver=resolver, now=NOW)
    assert verdict.valid, verdict.reasons
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["name"] = "Crane operator"
    forged = ".".join([header, base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("="), signature])
    assert "signature does not verify" in verify(forged, trusted=frozenset([issuer.did]), resolver=resolver,
                                                 now=NOW).reasons[0]


def test_verifier_checks_the_validity_window(issuer, published) -> None:
    lapsed = sign_credential(claims(issue_date=date(2020, 1, 1), expiry_date=date(2021, 1, 1)), issuer)
    verdict = verify(lapsed, trusted=frozenset([issuer.did]), resolver=FileResolver(published), now=NOW)
    assert verdict.reasons == ["expired at 2021-01-02T00:00:00Z"]


@pytest.mark.parametrize(("document", "reason"), [
    ("not json", "is not JSON"),
    ([], "is not a JSON object"),
    ({"id": "did:web:elsewhere", "@context": [did_web.DID_CONTEXT]}, "is not did:web"),
    ({"@context": [did_web.DID_CONTEXT], "verificationMethod": [], "assertionMethod": ["#k"]},
     "not a verificationMethod"),
    ({"@context": [did_web.DID_CONTEXT], "verificationMethod": [{"id": "#k", "publicKeyJwk": {"kty": "RSA"}}],
      "assertionMethod": ["#k"]}, "not an Ed25519"),
    ({"@context": [did_web.DID_CONTEXT], "verificationMethod": [
        {"id": "#k", "publicKeyJwk": {"kty": "OKP", "crv": "Ed25519", "x": "A" * 43, "d": "B" * 43}}],
      "assertionMethod": ["#k"]}, "private key"),
    ({"@context": [did_web.DID_CONTEXT], "verificationMethod": [
        {"id": "#k", "publicKeyJwk": {"kty": "OKP", "crv": "Ed25519", "x": "A" * 43}, "expires": "soon"}],
      "assertionMethod": ["#k"]}, "not an RFC 3339"),
])
def test_malformed_did_document_is_refused_with_a_reason(issuer, published, document, reason) -> None:
    path = published / "issuers" / "acme" / "did.json"
    if isinstance(document, dict) and "id" not in document:
        document = {"id": issuer.did, **document}
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    verdict = verify(sign_credential(claims(), issuer), trusted=frozenset([issuer.did]),
                     resolver=FileResolver(published), now=NOW)
    assert not verdict.valid
    assert reason in verdict.reasons[0], verdict.reasons


def test_revoked_bit_is_reported(issuer, published) -> None:
    token_list, _ = status_list_token(issuer, "revocation", 1, status.LIST_SIZE, [4242])
    (published / "issuers" / "acme" / "status" / "revocation-1").write_text(token_list)
    verdict = verify(sign_credential(claims(), issuer), trusted=frozenset([issuer.did]),
                     resolver=FileResolver(published), now=NOW)
    assert verdict.reasons == ["revoked by the issuer"]


@pytest.mark.parametrize(("encoded", "reason"), [
    ("zabc", "prefix 'u'"),
    ("u!!!!", "not base64url"),
    ("u" + base64.urlsafe_b64encode(b"plain bytes").decode().rstrip("="), "not GZIP"),
    (status.encode(bytearray(1024 * 1024 * 17)), "expands past"),
    (status.encode(bytearray(100)), "fewer than 131072"),
])
def test_malformed_status_list_is_refused_with_a_reason(issuer, published, encoded, reason) -> None:
    from credsync.credentials.publish import sign_payload

    listing = status.list_credential(issuer.did, issuer.base, "revocation", 1, encoded, "2025-01-01T00:00:00Z")
    token_list = sign_payload({**listing, "iss": issuer.did}, issuer)
    (published / "issuers" / "acme" / "status" / "revocation-1").write_text(token_list)
    verdict = verify(sign_credential(claims(), issuer), trusted=frozenset([issuer.did]),
                     resolver=FileResolver(published), now=NOW)
    assert len(verdict.reasons) == 1 and reason in verdict.reasons[0], verdict.reasons


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "e30.e30.e30", "x" * 600_000])
def test_garbage_credentials_get_reasons_not_exceptions(issuer, published, garbage) -> None:
    verdict = verify(garbage, trusted=frozenset([issuer.did]), resolver=FileResolver(published), now=NOW)
    assert not verdict.valid and verdict.reasons


def test_bitstring_layout_is_left_most_bit_first() -> None:
    bits = status.bits_with([0, 9], size=status.LIST_SIZE)
    assert bits[0] == 0x80 and bits[1] == 0x40
    raw = status.decode(status.encode(bits))
    assert status.bit_at(raw, 0) and status.bit_at(raw, 9) and not status.bit_at(raw, 1)


def test_signing_key_errors_do_not_echo_the_secret() -> None:
    secret = '{"kty":"OKP","crv":"X25519","x":"abc","d":"TOP-SECRET"}'
    with pytest.raises(SigningKeyError) as info:
        parse_signing_key(secret)
    assert "TOP-SECRET" not in str(info.value)


def test_key_id_is_the_thumbprint_and_stable() -> None:
    text = generate_signing_key()
    assert parse_signing_key(text).key_id == parse_signing_key(text).key_id
    assert parse_signing_key(text).key_id.startswith("key-") and len(parse_signing_key(text).key_id) == 20


@pytest.mark.parametrize(("did", "url"), [
    ("did:web:example.org", "https://example.org/.well-known/did.json"),
    ("did:web:example.org:issuers:acme", "https://example.org/issuers/acme/did.json"),
    ("did:web:localhost%3A8089:issuers:acme", "http://localhost:8089/issuers/acme/did.json"),
    ("did:web:localhost:issuers:acme#key-1", "http://localhost/issuers/acme/did.json"),
])
def test_did_web_resolves_to_the_method_url(did, url) -> None:
    assert did_web.document_url(did) == url


def test_issuer_did_round_trips_its_base_url() -> None:
    assert did_web.did_for("http://localhost:8089", "issuers", "acme") == "did:web:localhost%3A8089:issuers:acme"
    assert did_web.did_for("https://cred.example.org/base", "issuers", "acme") == \
        "did:web:cred.example.org:base:issuers:acme"


@pytest.mark.parametrize("did", ["did:key:z6Mk", "did:web:", "did:web:a::b", "did:web:user%40evil.example"])
def test_did_web_refuses_what_is_not_one(did) -> None:
    with pytest.raises(did_web.DidDocumentError):
        did_web.document_url(did)
