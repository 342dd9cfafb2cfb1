"""W3C Bitstring Status List: the bits, their encoding, and the status list credential.

Each issuer keeps one list per purpose (``revocation``, ``suspension``) of ``LIST_SIZE`` entries
(131,072, the spec's minimum for herd privacy). Index 0 is the left-most bit of the first byte. The
``encodedList`` is the multibase base64url (prefix ``u``, no padding) of the GZIP-compressed
bitstring. A credential's ``credentialStatus`` names its list and index; a verifier fetches the list
credential, checks its signature and purpose, and reads the bit. Plain module: no Airflow.
"""

from __future__ import annotations

import base64
import gzip
import zlib
from typing import Any

LIST_SIZE = 131_072
PURPOSES = ("revocation", "suspension")
# How long a verifier may cache a list (milliseconds, the spec's ``ttl``): revocation is urgent.
TTL_MS = 300_000
CACHE_CONTROL = f"public, max-age={TTL_MS // 1000}"
# A list bigger than this (decompressed) is refused rather than expanded: a gzip bomb guard.
MAX_LIST_BYTES = 16 * 1024 * 1024


class StatusListError(ValueError):
    """A status list or a credential's status entry is malformed: the message says which part."""


def encode(bits: bytearray) -> str:
    # mtime=0: the same bits always encode to the same text, so an unchanged list is not republished.
    return "u" + base64.urlsafe_b64encode(gzip.compress(bytes(bits), mtime=0)).decode().rstrip("=")


def decode(encoded: Any) -> bytes:
    """The raw bitstring of an ``encodedList``; StatusListError for anything that is not one."""
    if not isinstance(encoded, str) or not encoded.startswith("u") or len(encoded) < 2:
        raise StatusListError("encodedList is not a multibase base64url string (prefix 'u')")
    body = encoded[1:]
    try:
        compressed = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
    except (ValueError, TypeError):
        raise StatusListError("encodedList is not base64url") from None
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        raw = inflater.decompress(compressed, MAX_LIST_BYTES + 1)
    except zlib.error:
        raise StatusListError("encodedList is not GZIP-compressed") from None
    if len(raw) > MAX_LIST_BYTES:
        raise StatusListError(f"encodedList expands past {MAX_LIST_BYTES} bytes")
    if not inflater.eof:
        raise StatusListError("encodedList is a truncated GZIP stream")
    return raw


def bits_with(indexes: list[int] | set[int], size: int = LIST_SIZE) -> bytearray:
    """A bitstring of ``size`` bits with ``indexes`` set."""
    bits = bytearray(size // 8)
    for index in indexes:
        if not 0 <= index < size:
            raise StatusListError(f"index {index} is outside a list of {size} entries")
        bits[index // 8] |= 0x80 >> (index % 8)
    return bits


def bit_at(raw: bytes, index: int) -> bool:
    if not 0 <= index < len(raw) * 8:
        raise StatusListError(f"statusListIndex {index} is outside the list ({len(raw) * 8} entries)")
    return bool(raw[index // 8] & (0x80 >> (index % 8)))


def list_url(issuer_base: str, purpose: str, number: int) -> str:
    return f"{issuer_base.rstrip('/')}/status/{purpose}-{number}"


def status_entry(issuer_base: str, purpose: str, number: int, index: int) -> dict[str, str]:
    """A credential's ``credentialStatus`` entry (BitstringStatusListEntry)."""
    url = list_url(issuer_base, purpose, number)
    return {
        "id": f"{url}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": url,
    }


def list_credential(issuer_did: str, issuer_base: str, purpose: str, number: int, encoded: str,
                    valid_from: str) -> dict[str, Any]:
    """The unsigned BitstringStatusListCredential for one list."""
    url = list_url(issuer_base, purpose, number)
    return {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "id": url,
        "type": ["VerifiableCredential", "BitstringStatusListCredential"],
        "issuer": issuer_did,
        "validFrom": valid_from,
        "credentialSubject": {
            "id": f"{url}#list",
            "type": "BitstringStatusList",
            "statusPurpose": purpose,
            "encodedList": encoded,
            "ttl": TTL_MS,
        },
    }


def parse_entry(entry: Any) -> tuple[str, str, int]:
    """(list credential URL, purpose, index) of a BitstringStatusListEntry; StatusListError otherwise."""
    if not isinstance(entry, dict) or entry.get("type") != "BitstringStatusListEntry":
        raise StatusListError("credentialStatus entry is not a BitstringStatusListEntry")
    url, purpose, index = entry.get("statusListCredential"), entry.get("statusPurpose"), entry.get("statusListIndex")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise StatusListError("credentialStatus.statusListCredential is not an http(s) URL")
    if purpose not in PURPOSES:
        raise StatusListError(f"credentialStatus.statusPurpose {purpose!r} is not one of {list(PURPOSES)}")
    if not isinstance(index, str) or not index.isdigit() or len(index) > 10:
        raise StatusListError(f"credentialStatus.statusListIndex {index!r} is not a non-negative integer string")
    return url, purpose, int(index)


def check_list_credential(list_vc: Any, url: str, purpose: str, issuer: str) -> bytes:
    """Validate a (signature-checked) status list credential against the entry; its raw bits."""
    if not isinstance(list_vc, dict):
        raise StatusListError(f"status list {url} is not a JSON object")
    if list_vc.get("id") != url:
        raise StatusListError(f"status list at {url} names itself {list_vc.get('id')!r}")
    if "BitstringStatusListCredential" not in (list_vc.get("type") or []):
        raise StatusListError(f"status list {url} is not a BitstringStatusListCredential")
    list_issuer = list_vc.get("issuer")
    list_issuer = list_issuer.get("id") if isinstance(list_issuer, dict) else list_issuer
    if list_issuer != issuer:
        raise StatusListError(f"status list {url} was issued by {list_issuer!r}, not the credential's issuer")
    subject = list_vc.get("credentialSubject")
    if not isinstance(subject, dict) or subject.get("type") != "BitstringStatusList":
        raise StatusListError(f"status list {url} has no BitstringStatusList subject")
    if subject.get("statusPurpose") != purpose:
        raise StatusListError(f"status list {url} is for {subject.get('statusPurpose')!r}, not {purpose!r}")
    raw = decode(subject.get("encodedList"))
    if len(raw) * 8 < LIST_SIZE:
        raise StatusListError(f"status list {url} has {len(raw) * 8} entries, fewer than {LIST_SIZE}")
    return raw
