"""did:web issuers: identifiers, DID documents, and resolution over HTTP(S) with hostile-input checks.

A did:web DID names the URL of its DID document (W3C did:web method):
``did:web:example.org:issuers:acme`` → ``https://example.org/issuers/acme/did.json``; a port is
percent-encoded (``did:web:localhost%3A8089:…``). ``localhost`` / ``127.0.0.1`` resolve over plain
HTTP, as didkit does for them, so the demo and tests publish on loopback without a certificate.

Keys are ``JsonWebKey2020`` verification methods with an Ed25519 ``publicKeyJwk``, each referenced
from ``assertionMethod``. A retired key stays listed, with ``expires`` (security vocabulary
``sec:expiration``) = the retirement time: credentials it signed before then still verify, credentials
dated after it are refused. Plain module: no Airflow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

DID_CONTEXT = "https://www.w3.org/ns/did/v1"
JWS_2020_CONTEXT = "https://w3id.org/security/suites/jws-2020/v1"
VM_TYPE = "JsonWebKey2020"
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "[::1]")
# A DID document is a few KB; anything much larger is not one.
MAX_DOCUMENT_BYTES = 256 * 1024
RESOLVE_TIMEOUT_SECONDS = 10


class DidDocumentError(ValueError):
    """A DID could not be resolved, or its document is malformed: the message says which and why."""


@dataclass(frozen=True)
class PublishedKey:
    """One verification method of an issuer: public JWK and, once retired, when."""

    key_id: str  # the fragment, e.g. "key-3f9c…"
    public_jwk: dict[str, str]
    expires: datetime | None = None

    def method_id(self, did: str) -> str:
        return f"{did}#{self.key_id}"


def raw_public_key(key: PublishedKey) -> bytes:
    """The 32 raw bytes of a published Ed25519 key (what Data Integrity proofs verify against)."""
    import base64

    x = key.public_jwk["x"]
    raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
    if len(raw) != 32:
        raise DidDocumentError(f"key {key.key_id} is not a 32-byte Ed25519 key")
    return raw


def did_for(base_url: str, *path: str) -> str:
    """The did:web identifier for documents published under ``base_url`` (+ path segments)."""
    scheme, _, rest = base_url.rstrip("/").partition("://")
    if scheme not in ("http", "https") or not rest:
        raise DidDocumentError(f"issuer base URL {base_url!r} is not http(s)://host[:port][/path]")
    host, _, base_path = rest.partition("/")
    segments = [quote(host, safe="")] + [s for s in base_path.split("/") if s] + [p for p in path if p]
    return "did:web:" + ":".join(segments)


def document_url(did: str) -> str:
    """Where the DID document of a did:web DID lives (the method's DID → HTTPS URL transformation)."""
    if not isinstance(did, str) or not did.startswith("did:web:"):
        raise DidDocumentError(f"{did!r} is not a did:web DID")
    method_id = did.removeprefix("did:web:").split("#", 1)[0].split("?", 1)[0]
    segments = method_id.split(":")
    if not segments[0] or any(not s for s in segments):
        raise DidDocumentError(f"{did!r} has an empty host or path segment")
    host = unquote(segments[0])
    if "/" in host or "@" in host or any(c.isspace() for c in host):
        raise DidDocumentError(f"{did!r}: host {host!r} is not a host[:port]")
    scheme = "http" if host.split(":")[0] in ("localhost", "127.0.0.1") or host.startswith("[::1]") else "https"
    path = "/".join(unquote(s) for s in segments[1:])
    return f"{scheme}://{host}/{path}/did.json" if path else f"{scheme}://{host}/.well-known/did.json"


def build_document(did: str, keys: list[PublishedKey]) -> dict[str, Any]:
    """The DID document listing every key (current and retired) for assertion."""
    methods = []
    for key in keys:
        method: dict[str, Any] = {
            "id": key.method_id(did),
            "type": VM_TYPE,
            "controller": did,
            "publicKeyJwk": {k: key.public_jwk[k] for k in ("kty", "crv", "x")},
        }
        if key.expires is not None:
            method["expires"] = key.expires.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        methods.append(method)
    return {
        "@context": [DID_CONTEXT, JWS_2020_CONTEXT],
        "id": did,
        "verificationMethod": methods,
        "assertionMethod": [m["id"] for m in methods],
    }


def _parse_time(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise DidDocumentError(f"{where}: 'expires' is not a date-time string")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise DidDocumentError(f"{where}: 'expires' {value!r} is not an RFC 3339 date-time") from None
    if moment.tzinfo is None:
        raise DidDocumentError(f"{where}: 'expires' {value!r} has no time zone")
    return moment


def assertion_keys(did: str, document: Any) -> dict[str, PublishedKey]:
    """Validate ``document`` as the DID document of ``did``; its assertion keys by method id.

    Raises DidDocumentError naming the first problem (wrong id, key not Ed25519, a listed
    assertion method that is not in the document…): a malformed document is refused whole.
    """
    if not isinstance(document, dict):
        raise DidDocumentError(f"DID document of {did} is not a JSON object")
    if document.get("id") != did:
        raise DidDocumentError(f"DID document id {document.get('id')!r} is not {did}")
    contexts = document.get("@context")
    contexts = [contexts] if isinstance(contexts, str) else contexts
    if not isinstance(contexts, list) or not contexts or contexts[0] != DID_CONTEXT:
        raise DidDocumentError(f"DID document of {did} does not start its @context with {DID_CONTEXT}")
    methods = document.get("verificationMethod", [])
    if not isinstance(methods, list):
        raise DidDocumentError(f"DID document of {did}: verificationMethod is not a list")
    by_id: dict[str, dict[str, Any]] = {}
    for position, method in enumerate(methods):
        where = f"DID document of {did}: verificationMethod[{position}]"
        if not isinstance(method, dict) or not isinstance(method.get("id"), str):
            raise DidDocumentError(f"{where} has no id")
        method_id = method["id"] if method["id"].startswith("did:") else f"{did}{method['id']}"
        by_id[method_id] = method
    assertion = document.get("assertionMethod")
    if not isinstance(assertion, list) or not assertion:
        raise DidDocumentError(f"DID document of {did} lists no assertionMethod")
    keys: dict[str, PublishedKey] = {}
    for position, entry in enumerate(assertion):
        where = f"DID document of {did}: assertionMethod[{position}]"
        if isinstance(entry, str):
            ref = entry if entry.startswith("did:") else f"{did}{entry}"
            method = by_id.get(ref)
            if method is None:
                raise DidDocumentError(f"{where} refers to {entry!r}, which is not a verificationMethod")
        elif isinstance(entry, dict) and isinstance(entry.get("id"), str):
            method = entry
            ref = entry["id"] if entry["id"].startswith("did:") else f"{did}{entry['id']}"
        else:
            raise DidDocumentError(f"{where} is neither a method id nor an embedded method")
        if not ref.startswith(f"{did}#"):
            raise DidDocumentError(f"{where}: {ref!r} is not a key of {did}")
        if method.get("controller", did) != did:
            raise DidDocumentError(f"{where}: controller {method.get('controller')!r} is not {did}")
        jwk = method.get("publicKeyJwk")
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            raise DidDocumentError(f"{where}: publicKeyJwk is not an Ed25519 (OKP) key")
        if "d" in jwk:
            raise DidDocumentError(f"{where}: publicKeyJwk contains a private key ('d')")
        if not isinstance(jwk.get("x"), str) or len(jwk["x"]) != 43:
            raise DidDocumentError(f"{where}: publicKeyJwk 'x' is not a 32-byte base64url key")
        expires = _parse_time(method["expires"], where) if "expires" in method else None
        if "revoked" in method:
            # A revoked (compromised) key signs nothing valid, whatever the credential's date.
            expires = datetime.min.replace(tzinfo=UTC)
        keys[ref] = PublishedKey(ref.split("#", 1)[1], {"kty": "OKP", "crv": "Ed25519", "x": jwk["x"]}, expires)
    return keys


def parse_document_bytes(did: str, body: bytes) -> dict[str, Any]:
    if len(body) > MAX_DOCUMENT_BYTES:
        raise DidDocumentError(f"DID document of {did} is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DidDocumentError(f"DID document of {did} is not JSON ({exc})") from None


def fetch(url: str, what: str, max_bytes: int) -> bytes:
    """GET ``url`` (no redirects to elsewhere, size-capped); DidDocumentError on any failure."""
    import requests

    try:
        with requests.get(url, timeout=RESOLVE_TIMEOUT_SECONDS, stream=True, allow_redirects=False) as response:
            if response.status_code != 200:
                raise DidDocumentError(f"{what} at {url}: HTTP {response.status_code}")
            body = response.raw.read(max_bytes + 1, decode_content=True)
    except requests.RequestException as exc:
        raise DidDocumentError(f"{what} at {url} cannot be fetched ({type(exc).__name__})") from None
    if len(body) > max_bytes:
        raise DidDocumentError(f"{what} at {url} is larger than {max_bytes} bytes")
    return body


def resolve(did: str) -> dict[str, PublishedKey]:
    """Resolve ``did`` over HTTP(S) and return its validated assertion keys."""
    url = document_url(did)
    return assertion_keys(did, parse_document_bytes(did, fetch(url, f"DID document of {did}", MAX_DOCUMENT_BYTES)))
