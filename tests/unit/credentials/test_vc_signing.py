"""Signed credentials verify with third-party verifiers and fail after any payload change."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from credsync.credentials.keys import (
    SigningKeyError,
    did_key_from_jwk,
    generate_signing_key,
    parse_signing_key,
)
from credsync.credentials.vc import (
    CredentialClaims,
    CredentialVerificationError,
    Evidence,
    sign_credential,
    verify_credential,
)
from credsync.paths import PROJECT_ROOT

VERIFIERS_DIR = PROJECT_ROOT / "verifiers"


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
    }
    values.update(overrides)
    return CredentialClaims(**values)  # type: ignore[arg-type]


def tamper(token: str, mutate) -> str:
    header, payload, signature = token.split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    mutate(body)
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    return ".".join([header, base64.urlsafe_b64encode(raw).decode().rstrip("="), signature])


def flip_one_payload_byte(token: str, position: int) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[position] ^= 0x01
    return ".".join([header, base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("="), signature])


@pytest.fixture(scope="module")
def key():
    return parse_signing_key(generate_signing_key())


@pytest.fixture(scope="module")
def token(key) -> str:
    return sign_credential(claims(), key)


@pytest.fixture(scope="module")
def node_verifier() -> Path:
    """verifiers/ with node_modules installed from the lockfile (npm ci), or skip without node."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed")
    if not (VERIFIERS_DIR / "node_modules" / "did-jwt-vc").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=VERIFIERS_DIR, check=True,
                       capture_output=True, timeout=300)
    return VERIFIERS_DIR


def run_node(verifiers: Path, *tokens: str) -> list[dict]:
    done = subprocess.run(["node", "verify.mjs", "-"], cwd=verifiers, input="\n".join(tokens),
                          capture_output=True, text=True, timeout=60)
    return [json.loads(line) for line in done.stdout.splitlines()]


def didkit_verify(token: str) -> dict:
    didkit = pytest.importorskip("didkit")

    async def verify() -> str:
        return await didkit.verify_credential(token, json.dumps({"proofFormat": "jwt"}))

    return json.loads(asyncio.run(verify()))


def test_generated_key_is_private_ed25519_with_offline_did_key(key) -> None:
    assert key.did.startswith("did:key:z6Mk")  # z6Mk = base58btc of the ed25519-pub multicodec
    assert key.verification_method == f"{key.did}#{key.did.removeprefix('did:key:')}"
    assert "d" not in key.public_jwk()


def test_did_key_matches_didkit_derivation(key) -> None:
    didkit = pytest.importorskip("didkit")
    assert didkit.key_to_did("key", json.dumps(key.private_jwk)) == did_key_from_jwk(key.private_jwk)


def test_signing_key_errors_do_not_echo_the_secret() -> None:
    secret = '{"kty":"OKP","crv":"X25519","x":"abc","d":"TOP-SECRET"}'
    with pytest.raises(SigningKeyError) as info:
        parse_signing_key(secret)
    assert "TOP-SECRET" not in str(info.value)


def test_credential_is_an_open_badge_with_evidence(token) -> None:
    vc = verify_credential(token)
    assert vc["type"] == ["VerifiableCredential", "OpenBadgeCredential"]
    assert "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json" in vc["@context"]
    assert vc["credentialSubject"]["achievement"]["name"] == "Forklift operator"
    assert vc["issuanceDate"] == "2025-03-01T00:00:00Z"
    assert vc["expirationDate"] == "2099-03-02T00:00:00Z"
    assert "6f1e7c9a-0000-4000-8000-000000000001" in vc["evidence"][0]["narrative"]


def test_did_jwt_vc_verifies_issued_credential_offline(node_verifier, token, key) -> None:
    [outcome] = run_node(node_verifier, token)
    assert outcome == {"verified": True, "issuer": key.did,
                       "id": "urn:uuid:3f1c2a9e-1111-4222-8333-444455556666",
                       "type": ["VerifiableCredential", "OpenBadgeCredential"]}


def test_didkit_verifies_issued_credential_offline(token) -> None:
    assert didkit_verify(token) == {"checks": ["JWS"], "warnings": [], "errors": []}


def test_changed_payload_fails_every_verifier(node_verifier, token) -> None:
    forged_name = tamper(token, lambda body: body["vc"].update(name="Crane operator"))
    extended = tamper(token, lambda body: body.update(exp=body["exp"] + 86400))
    flipped = [flip_one_payload_byte(token, i) for i in (0, 40, 200, -2)]
    forgeries = [forged_name, extended, *flipped]
    outcomes = run_node(node_verifier, *forgeries)
    assert [o["verified"] for o in outcomes] == [False] * len(forgeries)
    for forged in forgeries:
        assert didkit_verify(forged)["errors"], forged
        with pytest.raises(CredentialVerificationError):
            verify_credential(forged)


def test_credential_signed_by_another_key_is_rejected(token) -> None:
    other = parse_signing_key(generate_signing_key())
    header, payload, _ = token.split(".")
    _, _, foreign_signature = sign_credential(claims(), other).split(".")
    with pytest.raises(CredentialVerificationError, match="signature does not verify"):
        verify_credential(".".join([header, payload, foreign_signature]))


def test_expired_credential_fails_verification(key) -> None:
    lapsed = sign_credential(claims(issue_date=date(2020, 1, 1), expiry_date=date(2021, 1, 1)), key)
    with pytest.raises(CredentialVerificationError, match="expired"):
        verify_credential(lapsed)
