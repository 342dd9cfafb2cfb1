"""The eddsa-rdfc-2022 Data Integrity format: proof, shipped contexts, and credsync's verifier on local files.

Third-party verifiers (@digitalbazaar/vc + eddsa-rdfc-2022-cryptosuite) are in
tests/integration/credentials/test_di_verifiers.py.
"""

from __future__ import annotations

import copy
import json
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credsync.credentials import data_integrity as di
from credsync.credentials import did_web, formats, status
from credsync.credentials.issuers import Issuer
from credsync.credentials.keys import generate_signing_key, parse_signing_key
from credsync.credentials.publish import status_list_token
from credsync.credentials.vc import build_credential
from credsync.credentials.verify import FileResolver, verify
from tests.unit.credentials.test_vc_signing import BASE, NOW, claims, ob3_validator


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer.for_tenant("acme", parse_signing_key(generate_signing_key()), base_url=BASE)


def publish_copy(root: Path, issuer: Issuer, keys: list[did_web.PublishedKey] | None = None,
                 revoked: list[int] | None = None) -> Path:
    folder = root / "issuers" / "acme"
    (folder / "status").mkdir(parents=True, exist_ok=True)
    keys = keys or [did_web.PublishedKey(issuer.key.key_id, issuer.key.public_jwk())]
    (folder / "did.json").write_text(json.dumps(did_web.build_document(issuer.did, keys)))
    token, _ = status_list_token(issuer, "revocation", 1, status.LIST_SIZE, revoked or [])
    (folder / "status" / "revocation-1").write_text(token)
    return root


@pytest.fixture
def published(tmp_path: Path, issuer: Issuer) -> Path:
    return publish_copy(tmp_path, issuer)


def signed(issuer: Issuer, **overrides: object) -> dict:
    return json.loads(di.sign_credential(claims(**overrides), issuer, signed_at=datetime(2025, 3, 1, tzinfo=UTC)))


def raw_key(issuer: Issuer) -> bytes:
    return did_web.raw_public_key(did_web.PublishedKey(issuer.key.key_id, issuer.key.public_jwk()))


def test_proof_has_the_vc_di_eddsa_shape_and_verifies(issuer) -> None:
    credential = signed(issuer)
    [proof] = credential["proof"]
    assert {k: proof[k] for k in ("type", "cryptosuite", "proofPurpose", "verificationMethod", "created")} == {
        "type": "DataIntegrityProof", "cryptosuite": "eddsa-rdfc-2022", "proofPurpose": "assertionMethod",
        "verificationMethod": issuer.key_method_id, "created": "2025-03-01T00:00:00Z"}
    assert proof["proofValue"].startswith("z") and len(di.base58btc_decode(proof["proofValue"][1:])) == 64
    di.verify_proof(credential, raw_key(issuer))
    # The credential is the same AchievementCredential the vc+jwt format carries, plus its proof.
    unsecured = {k: v for k, v in credential.items() if k != "proof"}
    assert unsecured.keys() == build_credential(claims(), issuer.did).keys()
    assert [e.message for e in ob3_validator().iter_errors(credential)] == []


@pytest.mark.parametrize("tamper", [
    lambda c: c.update(name="Crane operator"),
    lambda c: c["credentialSubject"]["achievement"].update(achievementType="Diploma"),
    lambda c: c.update(validUntil="2199-01-01T00:00:00Z"),
    lambda c: c["credentialStatus"].update(statusListIndex="1"),
    lambda c: c["proof"][0].update(created="2025-03-02T00:00:00Z"),
    lambda c: c["proof"][0].update(proofValue="z" + di.base58btc(bytes(64))),
])
def test_any_change_to_what_is_signed_breaks_the_proof(issuer, tamper) -> None:
    credential = signed(issuer)
    tampered = copy.deepcopy(credential)
    tamper(tampered)
    with pytest.raises(di.DataIntegrityError, match="does not verify"):
        di.verify_proof(tampered, raw_key(issuer))


def test_a_member_no_context_defines_is_refused_not_dropped(issuer) -> None:
    """JSON-LD expansion drops a term no context defines, so it would ride along unsigned: refused, as
    jsonld.js's safe mode (the @digitalbazaar verifiers) refuses it."""
    credential = signed(issuer)
    di.verify_proof(credential, raw_key(issuer))
    credential["unsignedClaim"] = "anything"
    with pytest.raises(di.DataIntegrityError, match="'unsignedClaim', which no context it names defines"):
        di.verify_proof(credential, raw_key(issuer))
    nested = signed(issuer)
    nested["credentialSubject"]["achievement"]["grade"] = "A"
    with pytest.raises(di.DataIntegrityError, match="'grade'"):
        di.verify_proof(nested, raw_key(issuer))


def test_contexts_are_shipped_and_an_unknown_one_is_refused_without_a_fetch(issuer, monkeypatch) -> None:
    def no_network(*_args, **_kwargs):
        raise AssertionError("a JSON-LD context was fetched over the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    credential = signed(issuer)  # every context it names is shipped: signing needs no network
    di.verify_proof(credential, raw_key(issuer))
    credential["@context"] = [*credential["@context"], "https://contexts.example.org/evil.json"]
    with pytest.raises(di.ContextFetchRefused, match=r"https://contexts\.example\.org/evil\.json"):
        di.canonical_nquads({k: v for k, v in credential.items() if k != "proof"})


def test_canonical_form_does_not_depend_on_member_order(issuer) -> None:
    credential = {k: v for k, v in signed(issuer).items() if k != "proof"}
    reordered = dict(reversed(list(credential.items())))
    assert di.canonical_nquads(credential) == di.canonical_nquads(reordered)


def test_proof_config_cache_gives_the_same_proof(issuer) -> None:
    credential = build_credential(claims(), issuer.did)
    moment = datetime(2025, 3, 1, tzinfo=UTC)
    cache = di.ProofConfigCache()
    first = di.sign_document(credential, issuer, created=moment, cache=cache)
    cached = di.sign_document(credential, issuer, created=moment, cache=cache)
    fresh = di.sign_document(credential, issuer, created=moment)
    # Ed25519 is deterministic: the same inputs give the same proof, cached proof options or not.
    assert first["proof"] == cached["proof"] == fresh["proof"]
    di.verify_proof(cached, raw_key(issuer))


def test_credsync_verifier_accepts_a_di_credential_with_every_check(issuer, published) -> None:
    text = di.sign_credential(claims(), issuer, signed_at=datetime(2025, 3, 1, tzinfo=UTC))
    verdict = verify(text, trusted=frozenset({issuer.did}), resolver=FileResolver(published), now=NOW)
    assert verdict.valid, verdict.reasons
    assert (verdict.issuer, verdict.key_id, verdict.status) == (issuer.did, issuer.key_method_id,
                                                                {"revocation": False})
    # A parsed document takes the same path.
    assert verify(json.loads(text), trusted=frozenset({issuer.did}), resolver=FileResolver(published),
                  now=NOW).valid


def test_credsync_verifier_refuses_untrusted_forged_tampered_and_revoked(issuer, published, tmp_path) -> None:
    trusted = frozenset({issuer.did})
    resolver = FileResolver(published)
    good = signed(issuer)

    assert "not on the trust list" in " ".join(verify(good, trusted=frozenset(), resolver=resolver, now=NOW).reasons)

    forger = Issuer.for_tenant("acme", parse_signing_key(generate_signing_key()), base_url=BASE)
    forged = verify(signed(forger), trusted=trusted, resolver=resolver, now=NOW)
    assert not forged.valid and "is not listed for assertion" in " ".join(forged.reasons)
    # The forger signing under the real key id still fails: the published key does not verify the proof.
    impostor = Issuer(issuer.tenant_id, issuer.did, issuer.base, issuer.name, forger.key)
    lie = signed(impostor)
    lie["proof"][0]["verificationMethod"] = issuer.key_method_id
    assert "does not verify" in " ".join(verify(lie, trusted=trusted, resolver=resolver, now=NOW).reasons)

    tampered = copy.deepcopy(good)
    tampered["name"] = "Crane operator"
    assert "does not verify" in " ".join(verify(tampered, trusted=trusted, resolver=resolver, now=NOW).reasons)

    index = int(good["credentialStatus"]["statusListIndex"])
    revoked_root = publish_copy(tmp_path / "revoked", issuer, revoked=[index])
    verdict = verify(good, trusted=trusted, resolver=FileResolver(revoked_root), now=NOW)
    assert verdict.status == {"revocation": True} and "revoked by the issuer" in verdict.reasons


def test_retired_key_refuses_proofs_created_after_retirement(issuer, tmp_path) -> None:
    retired_on = datetime(2025, 3, 15, tzinfo=UTC)
    key = did_web.PublishedKey(issuer.key.key_id, issuer.key.public_jwk(), expires=retired_on)
    root = publish_copy(tmp_path, issuer, keys=[key])
    before = json.loads(di.sign_credential(claims(), issuer, signed_at=datetime(2025, 3, 1, tzinfo=UTC)))
    after = json.loads(di.sign_credential(claims(), issuer, signed_at=datetime(2025, 3, 16, tzinfo=UTC)))
    trusted = frozenset({issuer.did})
    # (status off: this copy's list is signed today, by the key retired in the past)
    assert verify(before, trusted=trusted, resolver=FileResolver(root), now=NOW, check_status=False).valid
    refused = verify(after, trusted=trusted, resolver=FileResolver(root), now=NOW, check_status=False)
    assert any("after its retirement" in r for r in refused.reasons), refused.reasons


@pytest.mark.parametrize("garbage, reason", [
    ("{", "not JSON"),
    ("[]", "not a JSON object"),
    ('{"issuer": "did:web:x"}', "no embedded proof"),
    ('{"issuer": "did:web:x", "proof": [{}, {}]}', "2 proofs"),
    ('{"issuer": "did:web:x", "proof": {"type": "Ed25519Signature2020"}}', "not DataIntegrityProof"),
])
def test_garbage_di_credentials_get_reasons_not_exceptions(issuer, published, garbage, reason) -> None:
    verdict = verify(garbage, trusted=frozenset({issuer.did}), resolver=FileResolver(published), now=NOW)
    assert not verdict.valid and reason in " ".join(verdict.reasons), verdict.reasons


def test_tenant_format_is_validated_with_a_clear_error(tmp_path) -> None:
    path = tmp_path / "tenants.yaml"
    path.write_text("tenants:\n  - tenant_id: acme\n"
                    "  - tenant_id: globex\n    credentials: {format: eddsa-rdfc-2022}\n")
    assert formats.load_formats(path) == {"acme": "vc+jwt", "globex": "eddsa-rdfc-2022"}
    assert formats.tenant_format("initech", path) == "vc+jwt"
    path.write_text("tenants:\n  - tenant_id: acme\n    credentials: {format: ldp_vc}\n")
    with pytest.raises(formats.CredentialFormatConfigError,
                       match=r"tenant #1 \(acme\): field 'credentials.format' is 'ldp_vc'; expected one of vc\+jwt"):
        formats.load_formats(path)
    path.write_text("tenants:\n  - tenant_id: acme\n    credentials: {fromat: vc+jwt}\n")
    with pytest.raises(formats.CredentialFormatConfigError, match="unknown key"):
        formats.load_formats(path)


def test_the_shipped_tenants_file_names_valid_formats_and_a_di_tenant() -> None:
    configured = formats.load_formats()
    assert set(configured.values()) <= set(formats.FORMATS)
    assert formats.DATA_INTEGRITY in configured.values(), "make demo should issue both formats"


def test_hostile_shapes_are_refused_before_canonicalisation(issuer, published) -> None:
    trusted, resolver = frozenset({issuer.did}), FileResolver(published)
    wide = signed(issuer)
    wide["evidence"] = [{"type": ["Evidence"], "name": str(n)} for n in range(600)]
    assert "more than 500 JSON objects" in " ".join(verify(wide, trusted=trusted, resolver=resolver, now=NOW).reasons)
    deep = signed(issuer)
    node: dict = deep["credentialSubject"]
    for _ in range(40):
        node["achievement"] = {"type": ["Achievement"]}
        node = node["achievement"]
    assert "deeper than 32" in " ".join(verify(deep, trusted=trusted, resolver=resolver, now=NOW).reasons)
    long_value = signed(issuer)
    long_value["proof"][0]["proofValue"] = "z" + "2" * 50_000
    assert "not a multibase" in " ".join(verify(long_value, trusted=trusted, resolver=resolver, now=NOW).reasons)


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from([(), ("credentialSubject",), ("credentialSubject", "achievement"), ("issuer",),
                             ("proof", 0), ("credentialStatus",)]),
       key=st.text(max_size=16), value=_json_values)
def test_any_change_to_a_signed_credential_is_refused_with_a_reason(issuer, published, path, key, value) -> None:
    """Hostile input: a member set anywhere to any JSON value; verify answers with reasons, never raises, and
    accepts only when nothing that is signed changed."""
    credential = signed(issuer)
    target = credential
    for step in path:
        target = target[step]
    before = copy.deepcopy(target[key]) if key in target else _MISSING
    target[key] = value
    verdict = verify(credential, trusted=frozenset({issuer.did}), resolver=FileResolver(published), now=NOW)
    if verdict.valid:
        # Only a change that leaves the signed dataset as it was may still verify: the same value written
        # back, or a new member with no value at all (null / empty list: JSON-LD ignores it, so does every
        # reader of the JSON).
        assert before == value or (before is _MISSING and _empty(value)), (path, key, value)
    else:
        assert verdict.reasons


def _empty(value: object) -> bool:
    return value is None or (isinstance(value, list) and all(_empty(v) for v in value))


_MISSING = object()
