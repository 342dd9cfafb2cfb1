"""Verification of credentials (``POST /v1/verify``): trust list, issuer key, proof, window, status.

A compact JWS (vc+jwt / VC-JWT) is checked here; a Data Integrity credential (JSON, embedded
``eddsa-rdfc-2022`` proof) by ``data_integrity.py``, then the same window, status and registry checks.

Only issuers on the registry's trust list (``SANDBOX_REGISTRY_TRUSTED_ISSUERS``) are accepted. A
``did:web`` issuer is resolved over HTTP and the signing key must be one its DID document lists for
assertion (and, once retired, only for credentials signed before the retirement); a ``did:key``
issuer is its own key. A credential with a ``credentialStatus`` has its Bitstring Status List
fetched, verified and read. The registry's revocation look-up is passed in, so this module needs
neither the web app nor the store.
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, OKPKey

from sandbox.registry.didkey import DidKeyError, did_key_to_jwk
from sandbox.registry.didweb import ResolutionError, assertion_key, get, status_bit

# JOSE algorithm -> (JWK kty, crv) the did:key must resolve to. "Ed25519" is the
# fully-specified name from RFC 9864; "EdDSA" is what most VC tooling still emits.
ALGORITHM_KEYS: dict[str, tuple[str, str]] = {
    "EdDSA": ("OKP", "Ed25519"),
    "Ed25519": ("OKP", "Ed25519"),
    "ES256": ("EC", "P-256"),
}
# Allowance for clock differences between issuer and registry.
CLOCK_SKEW_SECONDS = 60

# joserfc flags EdDSA as deprecated by RFC 9864; the contract accepts it on purpose.
warnings.filterwarnings("ignore", message="EdDSA is deprecated", module="joserfc")


@dataclass
class VerificationResult:
    """Answer of ``POST /v1/verify``: valid only when ``reasons`` is empty."""

    issuer: str | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.reasons

    def as_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "issuer": self.issuer, "reasons": self.reasons}


def _b64url_json(segment: str, what: str) -> dict[str, Any]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"JWS {what} is not base64url-encoded JSON ({exc})") from None
    if not isinstance(decoded, dict):
        raise ValueError(f"JWS {what} is not a JSON object")
    return decoded


def _issuer_of(claims: dict[str, Any]) -> str | None:
    """Issuer per VC-JWT (``iss``), VCDM 2.0 (``issuer``) or VCDM 1.1 (``vc.issuer``)."""
    vc = claims.get("vc") if isinstance(claims.get("vc"), dict) else {}
    for candidate in (claims.get("iss"), claims.get("issuer"), vc.get("issuer")):
        if isinstance(candidate, dict):
            candidate = candidate.get("id")
        if isinstance(candidate, str) and candidate:
            return candidate
    return None


def _timestamp(value: Any) -> float | None:
    """Seconds since the epoch from a NumericDate or an RFC 3339 string; None if absent/unreadable."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def _validity_reasons(claims: dict[str, Any], now: float) -> list[str]:
    vc = claims.get("vc") if isinstance(claims.get("vc"), dict) else {}
    reasons = []
    not_after = (
        _timestamp(claims.get("exp")) or _timestamp(claims.get("validUntil")) or _timestamp(vc.get("expirationDate"))
    )
    if not_after is not None and now > not_after + CLOCK_SKEW_SECONDS:
        reasons.append("credential has expired")
    not_before = (
        _timestamp(claims.get("nbf")) or _timestamp(claims.get("validFrom")) or _timestamp(vc.get("issuanceDate"))
    )
    if not_before is not None and now + CLOCK_SKEW_SECONDS < not_before:
        reasons.append("credential is not valid yet")
    return reasons


def _signed_claims(credential: str, trusted: frozenset[str], result: VerificationResult) -> dict[str, Any] | None:
    """Header, trust, issuer key and signature; the claims when all of them hold."""
    parts = credential.strip().split(".")
    if len(parts) != 3:
        result.reasons.append("credential is not a compact JWS (expected three dot-separated parts)")
        return None
    try:
        header = _b64url_json(parts[0], "header")
        claims = _b64url_json(parts[1], "payload")
    except ValueError as exc:
        result.reasons.append(str(exc))
        return None

    result.issuer = _issuer_of(claims)
    if result.issuer is None:
        result.reasons.append("credential names no issuer (iss, issuer or vc.issuer)")
        return None
    if result.issuer not in trusted:
        result.reasons.append(f"issuer {result.issuer} is not on the registry's trust list")
        return None
    alg = header.get("alg")
    if alg not in ALGORITHM_KEYS:
        result.reasons.append(f"algorithm {alg!r} is not accepted (use one of {sorted(ALGORITHM_KEYS)})")
        return None
    kid = header.get("kid")
    if isinstance(kid, str) and kid.startswith("did:") and kid.split("#", 1)[0] != result.issuer:
        result.reasons.append(f"kid {kid!r} does not belong to issuer {result.issuer!r}")
        return None
    retired_at = None
    try:
        if result.issuer.startswith("did:web:"):
            if not isinstance(kid, str) or not kid.startswith(result.issuer + "#"):
                result.reasons.append("a did:web credential must name its key (kid = <issuer DID>#<key>)")
                return None
            jwk, retired_at = assertion_key(result.issuer, kid)
        else:
            jwk = did_key_to_jwk(result.issuer)
    except (DidKeyError, ResolutionError) as exc:
        result.reasons.append(f"issuer cannot be resolved: {exc}")
        return None
    if (jwk["kty"], jwk["crv"]) != ALGORITHM_KEYS[alg]:
        result.reasons.append(f"algorithm {alg} does not match the issuer's {jwk['crv']} key")
        return None

    try:
        key = OKPKey.import_key(jwk) if jwk["kty"] == "OKP" else ECKey.import_key(jwk)
        jws.deserialize_compact(credential.strip(), key, algorithms=[alg])
    except (JoseError, ValueError) as exc:
        result.reasons.append(f"signature does not verify with the issuer's key ({getattr(exc, 'error', exc)})")
        return None
    if retired_at is not None:
        signed = _timestamp(claims.get("iat")) or _timestamp(claims.get("validFrom"))
        if signed is None or signed >= retired_at:
            result.reasons.append(f"signed with key {kid} after the issuer retired it")
            return None
    return claims


def _status_reasons(claims: dict[str, Any], trusted: frozenset[str], issuer: str) -> list[str]:
    entry = claims.get("credentialStatus")
    if entry is None:
        return []
    reasons = []
    for item in entry if isinstance(entry, list) else [entry]:
        url = item.get("statusListCredential") if isinstance(item, dict) else None
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            reasons.append("credentialStatus has no statusListCredential URL")
            continue
        try:
            token = get(url, "status list").decode("ascii", "replace").strip()
            listed = VerificationResult()
            list_claims = _signed_claims(token, trusted, listed)
            if list_claims is None:
                reasons.append(f"status list {url} does not verify: {'; '.join(listed.reasons)}")
                continue
            if status_bit(list_claims, item, issuer):
                reasons.append(f"the issuer has set the {item.get('statusPurpose')} bit (status list {url})")
        except ResolutionError as exc:
            reasons.append(f"status cannot be checked: {exc}")
    return reasons


def verify_credential(
    credential: str | dict[str, Any],
    is_revoked: Callable[[str], bool] = lambda _credential: False,
    now: float | None = None,
    *,
    trusted: frozenset[str] = frozenset(),
) -> VerificationResult:
    """Check a credential (compact JWS, or Data Integrity JSON) from a trusted did:web or did:key issuer.

    ``is_revoked(credential)`` reports whether the registry revoked a certificate
    carrying exactly this credential.
    """
    from sandbox.registry import data_integrity

    result = VerificationResult()
    if data_integrity.is_data_integrity(credential):
        claims = data_integrity.signed_document(credential, trusted, result)
        text = data_integrity.text_of(credential)
    else:
        claims = _signed_claims(credential, trusted, result)
        text = credential.strip()
    if claims is None:
        return result
    result.reasons.extend(_validity_reasons(claims, time.time() if now is None else now))
    result.reasons.extend(_status_reasons(claims, trusted, result.issuer or ""))
    if is_revoked(text):
        result.reasons.append("the registry holds this credential as revoked")
    return result
