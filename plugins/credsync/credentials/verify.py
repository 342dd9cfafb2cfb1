"""Verifying a credential as a third party would: issuer trust, DID key, proof, schema, window, status.

Both securing formats take the same checks: a vc+jwt (compact JWS) through ``check_signature``, a JSON
credential with an embedded ``eddsa-rdfc-2022`` proof through ``data_integrity.check_proof``.

``verify(token, trusted=…)`` never raises for a bad credential: it returns a Verdict whose
``reasons`` say every check that failed (empty = valid). Resolution goes through a
``Resolver`` (HTTP by default; ``FileResolver`` reads a copy of the published did-web folder
for fully offline checks). Plain module: no Airflow.
"""

from __future__ import annotations

import base64
import json
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from credsync.credentials import data_integrity, did_web, status
from credsync.credentials.did_web import DidDocumentError, PublishedKey
from credsync.credentials.status import StatusListError
from credsync.credentials.vc import JWT_ALG

CLOCK_SKEW_SECONDS = 60
MAX_TOKEN_BYTES = 512 * 1024
MAX_STATUS_LIST_BYTES = 2 * 1024 * 1024
SCHEMA_PATH = Path(__file__).with_name("schemas") / "ob_v3p0_achievementcredential_schema.json"

warnings.filterwarnings("ignore", message="EdDSA is deprecated", module="joserfc")


class Resolver:
    """Fetches DID documents and status list credentials over HTTP(S), each once per resolver."""

    def __init__(self) -> None:
        self._keys: dict[str, dict[str, PublishedKey] | DidDocumentError] = {}
        self._lists: dict[str, bytes | DidDocumentError] = {}

    def did_keys(self, did: str) -> dict[str, PublishedKey]:
        if did not in self._keys:
            try:
                self._keys[did] = self._load_keys(did)
            except DidDocumentError as exc:
                self._keys[did] = exc
        found = self._keys[did]
        if isinstance(found, DidDocumentError):
            raise found
        return found

    def status_list(self, url: str) -> bytes:
        if url not in self._lists:
            try:
                self._lists[url] = self._load_list(url)
            except DidDocumentError as exc:
                self._lists[url] = exc
        found = self._lists[url]
        if isinstance(found, DidDocumentError):
            raise found
        return found

    def _load_keys(self, did: str) -> dict[str, PublishedKey]:
        return did_web.resolve(did)

    def _load_list(self, url: str) -> bytes:
        return did_web.fetch(url, "status list", MAX_STATUS_LIST_BYTES)


class FileResolver(Resolver):
    """Resolves from a local copy of the published did-web folder: URL path → file under ``root``."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def _read(self, url: str, what: str, max_bytes: int) -> bytes:
        relative = urlsplit(url).path.lstrip("/")
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root.resolve()) or not path.is_file():
            raise DidDocumentError(f"{what} {url}: no file {relative} under {self.root}")
        body = path.read_bytes()
        if len(body) > max_bytes:
            raise DidDocumentError(f"{what} {url} is larger than {max_bytes} bytes")
        return body

    def _load_keys(self, did: str) -> dict[str, PublishedKey]:
        url = did_web.document_url(did)
        body = self._read(url, f"DID document of {did}", did_web.MAX_DOCUMENT_BYTES)
        return did_web.assertion_keys(did, did_web.parse_document_bytes(did, body))

    def _load_list(self, url: str) -> bytes:
        return self._read(url, "status list", MAX_STATUS_LIST_BYTES)


@dataclass
class Verdict:
    """The outcome of verifying one credential: valid only when ``reasons`` is empty."""

    issuer: str | None = None
    credential_id: str | None = None
    key_id: str | None = None
    reasons: list[str] = field(default_factory=list)
    status: dict[str, bool] = field(default_factory=dict)  # purpose -> bit set
    credential: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return not self.reasons

    def as_json(self) -> dict[str, Any]:
        return {"valid": self.valid, "issuer": self.issuer, "id": self.credential_id, "key": self.key_id,
                "status": self.status, "reasons": self.reasons}


def _b64_json(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise CredentialFormatError(f"JWS {what} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise CredentialFormatError(f"JWS {what} is not a JSON object")
    return value


class CredentialFormatError(ValueError):
    pass


def _time(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment.timestamp() if moment.tzinfo else None
    return None


@lru_cache(maxsize=1)
def _schema_validator() -> Any:
    from jsonschema import Draft201909Validator

    return Draft201909Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def schema_errors(credential: dict[str, Any]) -> list[str]:
    """Violations of the 1EdTech OB 3.0 AchievementCredential JSON Schema (shipped, never fetched)."""
    return [f"OB 3.0 schema: {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}"
            for e in sorted(_schema_validator().iter_errors(credential), key=lambda e: list(e.absolute_path))]


def check_signature(token: str, trusted: frozenset[str], resolver: Resolver,
                    verdict: Verdict) -> dict[str, Any] | None:
    """Header, issuer trust, DID key and JWS signature; the payload when they all pass."""
    from joserfc import jws
    from joserfc.errors import JoseError
    from joserfc.jwk import OKPKey

    token = token.strip()
    if len(token) > MAX_TOKEN_BYTES:
        verdict.reasons.append(f"credential is larger than {MAX_TOKEN_BYTES} bytes")
        return None
    parts = token.split(".")
    if len(parts) != 3:
        verdict.reasons.append("credential is not a compact JWS (three dot-separated parts)")
        return None
    try:
        header = _b64_json(parts[0], "header")
        payload = _b64_json(parts[1], "payload")
    except CredentialFormatError as exc:
        verdict.reasons.append(str(exc))
        return None
    issuer = payload.get("issuer")
    issuer = issuer.get("id") if isinstance(issuer, dict) else issuer
    verdict.issuer = issuer if isinstance(issuer, str) else None
    verdict.credential_id = payload.get("id") if isinstance(payload.get("id"), str) else None
    if verdict.issuer is None:
        verdict.reasons.append("credential names no issuer")
        return None
    if payload.get("iss", verdict.issuer) != verdict.issuer:
        verdict.reasons.append(f"JWT iss {payload.get('iss')!r} disagrees with issuer {verdict.issuer!r}")
        return None
    if header.get("alg") != JWT_ALG:
        verdict.reasons.append(f"algorithm {header.get('alg')!r} is not accepted (expected {JWT_ALG})")
        return None
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid.startswith(f"{verdict.issuer}#"):
        verdict.reasons.append(f"kid {kid!r} is not a key of issuer {verdict.issuer}")
        return None
    verdict.key_id = kid
    if verdict.issuer not in trusted:
        verdict.reasons.append(f"issuer {verdict.issuer} is not on the trust list")
        return None
    try:
        keys = resolver.did_keys(verdict.issuer)
    except DidDocumentError as exc:
        verdict.reasons.append(f"issuer cannot be resolved: {exc}")
        return None
    key = keys.get(kid)
    if key is None:
        verdict.reasons.append(f"key {kid} is not listed for assertion in the issuer's DID document")
        return None
    try:
        jws.deserialize_compact(token, OKPKey.import_key(key.public_jwk), algorithms=[JWT_ALG])
    except (JoseError, ValueError) as exc:
        verdict.reasons.append(f"signature does not verify with {kid} ({type(exc).__name__})")
        return None
    if key.expires is not None:
        signed = _time(payload.get("iat")) or _time(payload.get("validFrom"))
        if signed is None or signed >= key.expires.timestamp():
            verdict.reasons.append(f"signed with key {kid} after its retirement on {key.expires.isoformat()}")
            return None
    return payload


def _window_reasons(credential: dict[str, Any], now: float) -> list[str]:
    reasons = []
    start, end = _time(credential.get("validFrom")), _time(credential.get("validUntil"))
    if start is None:
        reasons.append("validFrom is missing or not an RFC 3339 date-time with time zone")
    elif now + CLOCK_SKEW_SECONDS < start:
        reasons.append(f"not valid until {credential['validFrom']}")
    if "validUntil" in credential and end is None:
        reasons.append("validUntil is not an RFC 3339 date-time with time zone")
    elif end is not None and now - CLOCK_SKEW_SECONDS >= end:
        reasons.append(f"expired at {credential['validUntil']}")
    for claim, bound, late in (("nbf", start, False), ("exp", end, True)):
        if claim in credential and (bound is None or _time(credential[claim]) != bound):
            reasons.append(f"JWT {claim} disagrees with {'validUntil' if late else 'validFrom'}")
    return reasons


def _status_reasons(credential: dict[str, Any], trusted: frozenset[str], resolver: Resolver,
                    verdict: Verdict) -> list[str]:
    entries = credential.get("credentialStatus")
    if entries is None:
        return ["credential has no credentialStatus: its revocation cannot be checked"]
    reasons = []
    for entry in entries if isinstance(entries, list) else [entries]:
        try:
            url, purpose, index = status.parse_entry(entry)
            body = resolver.status_list(url)
            list_verdict = Verdict()
            list_payload = check_signature(body.decode("ascii", "replace"), trusted, resolver, list_verdict)
            if list_payload is None:
                reasons.append(f"status list {url} does not verify: {'; '.join(list_verdict.reasons)}")
                continue
            raw = status.check_list_credential(list_payload, url, purpose, verdict.issuer or "")
            set_ = status.bit_at(raw, index)
        except (StatusListError, DidDocumentError) as exc:
            reasons.append(f"status cannot be checked: {exc}")
            continue
        verdict.status[purpose] = set_
        if set_:
            reasons.append("revoked by the issuer" if purpose == "revocation" else "suspended by the issuer")
    return reasons


def verify(token: str | dict[str, Any], *, trusted: frozenset[str], resolver: Resolver | None = None,
           now: datetime | None = None, check_status: bool = True,
           check_schema: bool = True) -> Verdict:
    """Every check a relying party makes, in order; see the module docstring."""
    resolver = resolver or Resolver()
    verdict = Verdict()
    if isinstance(token, dict) or data_integrity.is_data_integrity(token):
        payload = data_integrity.check_proof(token, trusted, resolver, verdict)
    else:
        payload = check_signature(token, trusted, resolver, verdict)
    if payload is None:
        return verdict
    credential = {k: v for k, v in payload.items() if k not in ("iss", "iat")}
    verdict.credential = credential
    types = credential.get("type") if isinstance(credential.get("type"), list) else []
    if "VerifiableCredential" not in types:
        verdict.reasons.append("payload is not a VerifiableCredential")
    if check_schema:
        schema_view = {k: v for k, v in credential.items() if k not in ("nbf", "exp")}
        verdict.reasons.extend(schema_errors(schema_view))
    moment = (now or datetime.now(UTC)).timestamp()
    verdict.reasons.extend(_window_reasons(credential, moment))
    if check_status:
        verdict.reasons.extend(_status_reasons(credential, trusted, resolver, verdict))
    return verdict


def verify_many(tokens: list[str], **kwargs: Any) -> list[Verdict]:
    return [verify(token, **kwargs) for token in tokens]

