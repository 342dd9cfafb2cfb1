"""How the registry resolves a did:web issuer and reads a Bitstring Status List, over HTTP(S).

The registry's own implementation (it shares no code with credsync, as a real registry would not):
did:web → ``https://host/path/did.json`` (``http`` for localhost, the sandbox's loopback origins),
the key a ``kid`` names must be listed in ``assertionMethod`` with an Ed25519 ``publicKeyJwk``;
``expires`` on the method is its retirement time, ``revoked`` makes it sign nothing.
"""

from __future__ import annotations

import base64
import json
import zlib
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import httpx

MAX_BYTES = 2 * 1024 * 1024
MAX_LIST = 16 * 1024 * 1024  # decompressed: a gzip bomb is refused, not expanded
TIMEOUT_SECONDS = 10.0


class ResolutionError(ValueError):
    """The issuer's DID document or status list is unreachable or malformed."""


def document_url(did: str) -> str:
    segments = did.removeprefix("did:web:").split("#", 1)[0].split(":")
    if not did.startswith("did:web:") or not all(segments):
        raise ResolutionError(f"{did!r} is not a did:web DID")
    host = unquote(segments[0])
    if "/" in host or "@" in host:
        raise ResolutionError(f"{did!r}: {host!r} is not a host")
    scheme = "http" if host.split(":")[0] in ("localhost", "127.0.0.1") else "https"
    path = "/".join(unquote(s) for s in segments[1:])
    return f"{scheme}://{host}/{path}/did.json" if path else f"{scheme}://{host}/.well-known/did.json"


def get(url: str, what: str) -> bytes:
    try:
        with httpx.stream("GET", url, timeout=TIMEOUT_SECONDS, follow_redirects=False) as response:
            if response.status_code != 200:
                raise ResolutionError(f"{what} {url}: HTTP {response.status_code}")
            body = b""
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise ResolutionError(f"{what} {url} is larger than {MAX_BYTES} bytes")
            return body
    except httpx.HTTPError as exc:
        raise ResolutionError(f"{what} {url} cannot be fetched ({type(exc).__name__})") from None


def assertion_key(did: str, kid: str) -> tuple[dict[str, str], float | None]:
    """(public JWK, retirement timestamp or None) of ``kid`` in ``did``'s DID document."""
    try:
        document = json.loads(get(document_url(did), "DID document"))
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, ResolutionError):
            raise
        raise ResolutionError(f"DID document of {did} is not JSON") from None
    if not isinstance(document, dict) or document.get("id") != did:
        raise ResolutionError(f"DID document at {document_url(did)} is not the document of {did}")
    listed = [m if isinstance(m, str) else (m or {}).get("id") for m in document.get("assertionMethod") or []]
    listed = [m if not isinstance(m, str) or m.startswith("did:") else did + m for m in listed]
    if kid not in listed:
        raise ResolutionError(f"key {kid} is not listed for assertion by {did}")
    methods = document.get("verificationMethod") or []
    method = next((m for m in methods if isinstance(m, dict)
                   and (m.get("id") == kid or did + str(m.get("id")) == kid)), None)
    if method is None:
        raise ResolutionError(f"key {kid} is listed but not described in the DID document")
    jwk = method.get("publicKeyJwk")
    if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519" or "d" in jwk:
        raise ResolutionError(f"key {kid} is not a public Ed25519 JWK")
    if "revoked" in method:
        return {"kty": "OKP", "crv": "Ed25519", "x": str(jwk.get("x"))}, float("-inf")
    expires = None
    if "expires" in method:
        try:
            expires = datetime.fromisoformat(str(method["expires"]).replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise ResolutionError(f"key {kid}: expires {method['expires']!r} is not a date-time") from None
    return {"kty": "OKP", "crv": "Ed25519", "x": str(jwk.get("x"))}, expires


def status_bit(list_claims: dict[str, Any], entry: dict[str, Any], issuer: str) -> bool:
    """The bit ``entry`` points at in a (signature-checked) status list credential."""
    subject = list_claims.get("credentialSubject") or {}
    list_issuer = list_claims.get("issuer")
    list_issuer = list_issuer.get("id") if isinstance(list_issuer, dict) else list_issuer
    if list_issuer != issuer:
        raise ResolutionError("status list is not issued by the credential's issuer")
    if "BitstringStatusListCredential" not in (list_claims.get("type") or []):
        raise ResolutionError("status list is not a BitstringStatusListCredential")
    if subject.get("statusPurpose") != entry.get("statusPurpose"):
        raise ResolutionError("status list purpose does not match the credential's entry")
    encoded = subject.get("encodedList")
    if not isinstance(encoded, str) or not encoded.startswith("u"):
        raise ResolutionError("encodedList is not multibase base64url")
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        raw = inflate.decompress(base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4)), MAX_LIST)
    except (ValueError, zlib.error):
        raise ResolutionError("encodedList is not a GZIP-compressed bitstring") from None
    if not inflate.eof:
        raise ResolutionError(f"encodedList is truncated or expands past {MAX_LIST} bytes")
    index = entry.get("statusListIndex")
    if not isinstance(index, str) or not index.isdigit() or int(index) >= len(raw) * 8:
        raise ResolutionError(f"statusListIndex {index!r} is not an index of the list")
    return bool(raw[int(index) // 8] & (0x80 >> (int(index) % 8)))
