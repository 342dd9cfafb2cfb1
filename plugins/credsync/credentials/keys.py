"""The issuer's signing key: an Ed25519 private JWK, named by its key id.

The key lives in the Airflow connection ``credsync_signing_key`` (password field =
private JWK as JSON), or a secrets backend behind it; never in files or the warehouse.
Its key id (``key-`` + the first 16 characters of the RFC 7638 JWK thumbprint) is the
fragment of its verification method in the issuer's did:web DID document, so putting a
new key in the connection is a rotation: the new key is added, the old one stays listed.
``did_key_from_jwk`` remains for tooling that wants the key's ``did:key`` form.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

SIGNING_KEY_CONN_ID = "credsync_signing_key"

# multicodec varint for ed25519-pub, the prefix did:key puts before the raw key.
_ED25519_PUB_MULTICODEC = b"\xed\x01"
_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


class SigningKeyError(ValueError):
    """The configured signing key is missing or is not a private Ed25519 JWK."""


@dataclass(frozen=True)
class SigningKey:
    """A private Ed25519 JWK with its issuer DID and verification method id."""

    private_jwk: dict[str, str]

    @cached_property
    def key_id(self) -> str:
        """``key-`` + 16 characters of the JWK thumbprint: stable, and the same wherever the key is stored."""
        from jwcrypto import jwk

        thumb = jwk.JWK(**{k: self.private_jwk[k] for k in ("kty", "crv", "x")}).thumbprint()
        return f"key-{thumb[:16]}"

    def public_jwk(self) -> dict[str, str]:
        return {k: self.private_jwk[k] for k in ("kty", "crv", "x")}

    @cached_property
    def ed25519_private_key(self) -> Any:
        """The key as a ``cryptography`` Ed25519PrivateKey (Data Integrity proofs sign raw bytes with it)."""
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from jwcrypto.common import base64url_decode

        return Ed25519PrivateKey.from_private_bytes(base64url_decode(self.private_jwk["d"]))


def generate_signing_key() -> str:
    """A new Ed25519 private JWK as JSON, ready for the connection's password field."""
    from jwcrypto import jwk

    key = jwk.JWK.generate(kty="OKP", crv="Ed25519")
    return key.export_private()


def parse_signing_key(private_jwk_json: str) -> SigningKey:
    """Validate a private JWK (JSON text) and wrap it; errors never echo the secret."""
    try:
        data = json.loads(private_jwk_json)
    except (TypeError, json.JSONDecodeError) as exc:
        raise SigningKeyError("signing key is not valid JSON (expected a private JWK)") from exc
    if not isinstance(data, dict) or data.get("kty") != "OKP" or data.get("crv") != "Ed25519":
        raise SigningKeyError("signing key must be a JWK with kty 'OKP' and crv 'Ed25519'")
    if not data.get("d") or not data.get("x"):
        raise SigningKeyError("signing key must be a private JWK (fields 'x' and 'd')")
    return SigningKey(private_jwk={k: str(v) for k, v in data.items()})


def signing_key_from_connection(conn_id: str = SIGNING_KEY_CONN_ID) -> SigningKey:
    """Read the private JWK from the password field of Airflow connection ``conn_id``."""
    from airflow.sdk import Connection

    conn = Connection.get(conn_id)
    if not conn.password:
        raise SigningKeyError(f"connection {conn_id!r} has no password (expected the private JWK)")
    return parse_signing_key(conn.password)


def did_key_from_jwk(jwk: dict[str, str]) -> str:
    """The ``did:key`` identifier of an Ed25519 JWK (public or private)."""
    from jwcrypto.common import base64url_decode

    raw = base64url_decode(jwk["x"])
    if len(raw) != 32:
        raise SigningKeyError("Ed25519 public key must be 32 bytes")
    return "did:key:z" + _base58btc(_ED25519_PUB_MULTICODEC + raw)


def _base58btc(data: bytes) -> str:
    # An encoding, not crypto: multibase base58btc as did:key specifies it.
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(_BASE58_ALPHABET[rem])
    leading_zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * leading_zeros + "".join(reversed(out))
