"""Credentials as W3C VC Data Model 2.0 Open Badges 3.0 ``AchievementCredential``, secured as ``vc+jwt``.

Format (docs/credentials.md): the JWT payload *is* the credential (VC-JOSE-COSE), plus the JWT claims
``iss`` (= ``issuer.id``), ``jti`` (= ``id``), ``nbf`` (= ``validFrom``), ``exp`` (= ``validUntil``) and ``iat``
(signing time) that JWT libraries check;
header ``{"alg": "EdDSA", "typ": "vc+jwt", "cty": "vc", "kid": "<did:web>#key-…"}``.
The credential ``id`` is stable per award (``urn:uuid:{award_id}``): a renewal keeps it with a newer
``validFrom`` and the original ``awardedDate`` (OB 3.0 equality rules). The subject is an
``IdentityObject`` with a salted SHA-256 of the employee id: no names, e-mails or national ids.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from credsync.credentials.issuers import Issuer

VC_CONTEXT_V2 = "https://www.w3.org/ns/credentials/v2"
OB3_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
# Defines 1EdTechJsonSchemaValidator2019 (credentialSchema's type), which the OB context does not: without it
# the type is a relative IRI, which JSON-LD safe mode (and so every Data Integrity verifier) refuses.
OB3_EXTENSIONS_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json"
OB3_SCHEMA_ID = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
OB3_SCHEMA_TYPE = "1EdTechJsonSchemaValidator2019"
CREDENTIAL_TYPES = ["VerifiableCredential", "AchievementCredential"]
JWT_TYP = "vc+jwt"
JWT_ALG = "EdDSA"
IDENTITY_TYPE = "ext:hrisEmployeeId"


class CredentialVerificationError(ValueError):
    """A credential failed to verify: the message says which check and why."""


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
    award_id: str | None = None  # the first credential of the award; defaults to credential_id
    awarded_date: date | None = None  # when the award was first made; defaults to issue_date
    achievement_type: str = "Certification"
    image_url: str | None = None
    subject_did: str | None = None
    status: dict[str, str] | None = None  # the BitstringStatusListEntry
    extra: dict[str, object] = field(default_factory=dict)


def valid_from(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def valid_until(day: date) -> datetime:
    # expiry_date is the last day the credential is valid, so it lapses at the next midnight UTC.
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def iso_day(day: date) -> str:
    """``iso(valid_from(day))`` without building the datetime: midnight UTC of ``day``."""
    return f"{day.isoformat()}T00:00:00Z"


def iso(moment: datetime) -> str:
    # isoformat: the same text as strftime("%Y-%m-%dT%H:%M:%SZ") (years >= 1000), 3x faster; every
    # credential formats five of these.
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def identity_hash(employee_id: str, salt: str) -> str:
    """OB 3.0 IdentityHash: ``sha256$`` + hex SHA-256 of the identifier followed by the salt."""
    return "sha256$" + hashlib.sha256((employee_id + salt).encode("utf-8")).hexdigest()


def _subject(claims: CredentialClaims, salt: str) -> dict[str, Any]:
    achievement: dict[str, Any] = {
        "id": f"urn:credsync:achievement:{claims.credential_type}:{claims.rule_version}",
        "type": ["Achievement"],
        "achievementType": claims.achievement_type,
        "name": claims.achievement_name,
        "description": f"{claims.achievement_name} ({claims.credential_type})",
        "criteria": {"narrative": f"Meets credential rule {claims.rule_id} v{claims.rule_version}"},
    }
    if claims.image_url:
        achievement["image"] = {"id": claims.image_url, "type": "Image"}
    subject: dict[str, Any] = {"type": ["AchievementSubject"], "achievement": achievement}
    if claims.subject_did:
        subject["id"] = claims.subject_did
    else:
        subject["identifier"] = [{
            "type": "IdentityObject",
            "identityHash": identity_hash(claims.employee_id, salt),
            "identityType": IDENTITY_TYPE,
            "hashed": True,
            "salt": salt,
        }]
    return subject


def build_credential(claims: CredentialClaims, issuer_did: str, *, salt: str | None = None) -> dict[str, Any]:
    """The unsigned AchievementCredential (VC Data Model 2.0, OB 3.0)."""
    ev = claims.evidence
    evidence_entry: dict[str, Any] = {
        "type": ["Evidence"],
        "name": f"Completion of {' + '.join(ev.course_codes)}",
        "narrative": (
            f"Rule {claims.rule_id} v{claims.rule_version}; statements {', '.join(ev.source_ids)}; "
            f"score {ev.score if ev.score is not None else 'n/a'}; completed {iso(ev.completed_at)}"
        ),
    }
    if ev.evidence_url:
        evidence_entry["id"] = ev.evidence_url
    credential: dict[str, Any] = {
        "@context": [VC_CONTEXT_V2, OB3_CONTEXT, OB3_EXTENSIONS_CONTEXT],
        "id": f"urn:uuid:{claims.award_id or claims.credential_id}",
        "type": list(CREDENTIAL_TYPES),
        "name": claims.achievement_name,
        "issuer": {"id": issuer_did, "type": ["Profile"], "name": claims.issuer_name},
        "validFrom": iso_day(claims.issue_date),
        "awardedDate": iso_day(claims.awarded_date or claims.issue_date),
        "credentialSubject": _subject(claims, salt if salt is not None else secrets.token_hex(16)),
        "credentialSchema": [{"id": OB3_SCHEMA_ID, "type": OB3_SCHEMA_TYPE}],
        "evidence": [evidence_entry],
    }
    if claims.expiry_date is not None:
        credential["validUntil"] = iso_day(claims.expiry_date + timedelta(days=1))  # = iso(valid_until(…))
    if claims.status is not None:
        credential["credentialStatus"] = dict(claims.status)
    return credential


def jwt_payload(credential: dict[str, Any], *, signed_at: datetime | None = None) -> dict[str, Any]:
    """The credential plus the JWT claims that mirror it (they never disagree with it)."""
    payload = dict(credential)
    issuer = credential["issuer"]
    payload["iss"] = issuer["id"] if isinstance(issuer, dict) else issuer
    payload["jti"] = credential["id"]
    payload["nbf"] = int(datetime.fromisoformat(credential["validFrom"].replace("Z", "+00:00")).timestamp())
    if "validUntil" in credential:
        payload["exp"] = int(datetime.fromisoformat(credential["validUntil"].replace("Z", "+00:00")).timestamp())
    payload["iat"] = int((signed_at or datetime.now(UTC)).timestamp())
    return payload


def sign_payload(payload: dict[str, Any], issuer: Issuer) -> str:
    """``payload`` as a compact JWS (vc+jwt) signed with the issuer's current key."""
    from joserfc import jws

    header = {"alg": JWT_ALG, "typ": JWT_TYP, "cty": "vc", "kid": issuer.key_method_id}
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return jws.serialize_compact(header, body, issuer.joserfc_key, algorithms=[JWT_ALG])


def sign_credential(claims: CredentialClaims, issuer: Issuer, *, signed_at: datetime | None = None) -> str:
    """The credential for ``claims`` as a vc+jwt signed by ``issuer``."""
    return sign_payload(jwt_payload(build_credential(claims, issuer.did), signed_at=signed_at), issuer)
