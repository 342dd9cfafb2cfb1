"""Credentials as W3C Verifiable Credentials: Open Badges 3.0 shape, signed as VC-JWT.

Format (see docs/credentials.md): VC Data Model 1.1 with the JWT encoding
(``iss``/``sub``/``jti``/``nbf``/``exp`` claims mirror the ``vc`` claim), the
``OpenBadgeCredential`` type and the OB 3.0 context, signed EdDSA (Ed25519) by
a ``did:key`` issuer. VC 1.1 rather than 2.0 because didkit rejects the 2.0
context and did-jwt-vc expects 1.1 for JWTs; both verify this format offline.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from credsync.credentials.keys import SigningKey, did_key_from_jwk

VC_CONTEXT_V1 = "https://www.w3.org/2018/credentials/v1"
OB3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
JWT_TYP = "JWT"
JWT_ALG = "EdDSA"


class CredentialVerificationError(ValueError):
    """A VC-JWT failed to verify: bad signature, wrong issuer, malformed or outside its validity."""


@dataclass(frozen=True)
class Evidence:
    """What justified an issuance: the statements, the score, when it happened."""

    source_ids: list[str]
    score: float | None
    completed_at: datetime
    course_codes: list[str]
    evidence_url: str | None = None


@dataclass(frozen=True)
class CredentialClaims:
    """Everything a credential says, independent of how it is signed."""

    credential_id: str
    tenant_id: str
    employee_id: str
    credential_type: str
    achievement_name: str
    issuer_name: str
    rule_id: str
    rule_version: str
    issue_date: date
    expiry_date: date | None
    evidence: Evidence
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def subject_id(self) -> str:
        # A pseudonymous URN: the employee id is the join key already shared with the
        # registry; names and e-mails stay out of the credential.
        return f"urn:credsync:{self.tenant_id}:worker:{self.employee_id}"


def _valid_from(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _valid_until(day: date) -> datetime:
    # expiry_date is the last day the credential is valid, so it lapses at the next midnight UTC.
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_credential(claims: CredentialClaims, issuer_did: str) -> dict[str, object]:
    """The unsigned ``vc`` object (OpenBadgeCredential, VC data model 1.1)."""
    ev = claims.evidence
    evidence_entry: dict[str, object] = {
        "type": ["Evidence"],
        "name": f"Completion of {' + '.join(ev.course_codes)}",
        "narrative": (
            f"Rule {claims.rule_id} v{claims.rule_version}; statements {', '.join(ev.source_ids)}; "
            f"score {ev.score if ev.score is not None else 'n/a'}; completed {_iso(ev.completed_at)}"
        ),
    }
    if ev.evidence_url:
        evidence_entry["id"] = ev.evidence_url
    credential: dict[str, object] = {
        "@context": [VC_CONTEXT_V1, OB3_CONTEXT],
        "id": f"urn:uuid:{claims.credential_id}",
        "type": ["VerifiableCredential", "OpenBadgeCredential"],
        "name": claims.achievement_name,
        "issuer": {"id": issuer_did, "type": ["Profile"], "name": claims.issuer_name},
        "issuanceDate": _iso(_valid_from(claims.issue_date)),
        "credentialSubject": {
            "id": claims.subject_id,
            "type": ["AchievementSubject"],
            "achievement": {
                "id": f"urn:credsync:achievement:{claims.credential_type}:{claims.rule_version}",
                "type": ["Achievement"],
                "name": claims.achievement_name,
                "description": f"{claims.achievement_name} ({claims.credential_type})",
                "criteria": {"narrative": f"Meets credential rule {claims.rule_id} v{claims.rule_version}"},
            },
        },
        "evidence": [evidence_entry],
    }
    if claims.expiry_date is not None:
        credential["expirationDate"] = _iso(_valid_until(claims.expiry_date))
    return credential


def sign_credential(claims: CredentialClaims, key: SigningKey) -> str:
    """The credential as a compact VC-JWT signed with ``key`` (EdDSA, kid = did:key VM)."""
    from jwcrypto import jwk, jwt

    vc = build_credential(claims, key.did)
    payload: dict[str, object] = {
        "iss": key.did,
        "sub": claims.subject_id,
        "jti": vc["id"],
        "nbf": int(_valid_from(claims.issue_date).timestamp()),
        "vc": vc,
    }
    if claims.expiry_date is not None:
        payload["exp"] = int(_valid_until(claims.expiry_date).timestamp())
    token = jwt.JWT(
        header={"alg": JWT_ALG, "typ": JWT_TYP, "kid": key.verification_method},
        claims=json.dumps(payload, separators=(",", ":"), sort_keys=True),
    )
    token.make_signed_token(jwk.JWK(**key.private_jwk))
    return token.serialize()


def verify_credential(token: str, *, now: datetime | None = None) -> dict[str, object]:
    """Check a VC-JWT against the public key inside its own ``did:key`` issuer.

    Our own check, used by the pipeline and tests; third-party verifiers
    (``verifiers/verify.mjs``, didkit) are what prove interoperability.
    Returns the ``vc`` claim; raises CredentialVerificationError otherwise.
    """
    from jwcrypto import jwk, jws
    from jwcrypto.common import JWException, json_decode

    try:
        parsed = jws.JWS()
        parsed.deserialize(token)
        header = parsed.jose_header
    except (JWException, ValueError) as exc:
        raise CredentialVerificationError(f"not a compact JWS: {exc}") from exc
    if header.get("alg") != JWT_ALG:
        raise CredentialVerificationError(f"unexpected alg {header.get('alg')!r}")
    try:
        unverified = json_decode(parsed.objects["payload"])
        issuer = str(unverified["iss"])
    except (KeyError, ValueError, TypeError) as exc:
        raise CredentialVerificationError("payload has no issuer") from exc
    public = _public_jwk_from_did_key(issuer)
    try:
        parsed.verify(jwk.JWK(**public), alg=JWT_ALG)
    except JWException as exc:
        raise CredentialVerificationError(f"signature does not verify for issuer {issuer}") from exc
    claims = json_decode(parsed.payload)
    if not str(header.get("kid", "")).startswith(issuer):
        raise CredentialVerificationError("kid does not belong to the issuer DID")
    moment = int((now or datetime.now(UTC)).timestamp())
    if "nbf" in claims and moment < int(claims["nbf"]):
        raise CredentialVerificationError("credential is not yet valid")
    if "exp" in claims and moment >= int(claims["exp"]):
        raise CredentialVerificationError("credential has expired")
    vc = claims.get("vc")
    if not isinstance(vc, dict) or "OpenBadgeCredential" not in vc.get("type", []):
        raise CredentialVerificationError("payload is not an OpenBadgeCredential")
    return vc


def _public_jwk_from_did_key(did: str) -> dict[str, str]:
    from jwcrypto.common import base64url_encode

    if not did.startswith("did:key:z"):
        raise CredentialVerificationError(f"issuer {did!r} is not a did:key")
    raw = _base58btc_decode(did.removeprefix("did:key:z"))
    if raw[:2] != b"\xed\x01" or len(raw) != 34:
        raise CredentialVerificationError(f"issuer {did!r} is not an Ed25519 did:key")
    public = {"kty": "OKP", "crv": "Ed25519", "x": base64url_encode(raw[2:])}
    if did_key_from_jwk(public) != did:
        raise CredentialVerificationError(f"issuer {did!r} is not canonically encoded")
    return public


def _base58btc_decode(text: str) -> bytes:
    from credsync.credentials.keys import _BASE58_ALPHABET

    number = 0
    for char in text:
        index = _BASE58_ALPHABET.find(char)
        if index < 0:
            raise CredentialVerificationError("did:key is not base58btc")
        number = number * 58 + index
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    leading = len(text) - len(text.lstrip("1"))
    return b"\x00" * leading + body
