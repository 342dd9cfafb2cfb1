"""Offline resolution of ``did:key`` identifiers to public JWKs.

Only the two key types credsync signs with are supported: Ed25519 (multicodec
``0xed``) and P-256 (multicodec ``0x1200``, compressed point), both encoded as
multibase base58btc (prefix ``z``). See https://w3c-ccg.github.io/did-method-key/.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric import ec

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: value for value, char in enumerate(BASE58_ALPHABET)}
MULTICODEC_ED25519_PUB = 0xED
MULTICODEC_P256_PUB = 0x1200


class DidKeyError(ValueError):
    """The identifier is not a did:key this resolver understands."""


def base58btc_decode(text: str) -> bytes:
    """Decode Bitcoin-alphabet base58 (leading ``1`` characters are zero bytes)."""
    number = 0
    for char in text:
        try:
            number = number * 58 + _BASE58_INDEX[char]
        except KeyError:
            raise DidKeyError(f"character {char!r} is not base58btc") from None
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    leading_zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * leading_zeros + body


def base58btc_encode(data: bytes) -> str:
    """Encode bytes as Bitcoin-alphabet base58 (used by tests and key tooling)."""
    number = int.from_bytes(data, "big")
    chars = []
    while number:
        number, remainder = divmod(number, 58)
        chars.append(BASE58_ALPHABET[remainder])
    leading_zeros = len(data) - len(data.lstrip(b"\x00"))
    return "1" * leading_zeros + "".join(reversed(chars))


def _read_varint(data: bytes) -> tuple[int, int]:
    """Return (value, bytes consumed) of an unsigned LEB128 varint (multicodec prefix)."""
    value = 0
    for position, byte in enumerate(data[:9]):
        value |= (byte & 0x7F) << (7 * position)
        if not byte & 0x80:
            return value, position + 1
    raise DidKeyError("multicodec prefix is not a terminated varint")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def did_key_to_jwk(did: str) -> dict[str, str]:
    """Resolve ``did:key:z...`` (optionally with a ``#fragment``) to a public JWK dict.

    Raises :class:`DidKeyError` naming what is wrong with the identifier.
    """
    identifier = did.split("#", 1)[0]
    prefix = "did:key:"
    if not identifier.startswith(prefix):
        raise DidKeyError(f"{identifier!r} is not a did:key")
    multibase = identifier[len(prefix) :]
    if not multibase.startswith("z"):
        raise DidKeyError(f"{identifier!r}: only multibase base58btc ('z') is supported")
    raw = base58btc_decode(multibase[1:])
    codec, consumed = _read_varint(raw)
    key = raw[consumed:]
    if codec == MULTICODEC_ED25519_PUB:
        if len(key) != 32:
            raise DidKeyError(f"{identifier!r}: Ed25519 key must be 32 bytes, got {len(key)}")
        return {"kty": "OKP", "crv": "Ed25519", "x": _b64url(key)}
    if codec == MULTICODEC_P256_PUB:
        if len(key) != 33:
            raise DidKeyError(f"{identifier!r}: P-256 key must be a 33-byte compressed point, got {len(key)}")
        try:
            point = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key)
        except ValueError as exc:
            raise DidKeyError(f"{identifier!r}: not a point on P-256 ({exc})") from None
        numbers = point.public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
        }
    raise DidKeyError(f"{identifier!r}: multicodec 0x{codec:x} is neither Ed25519 (0xed) nor P-256 (0x1200)")


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def did_key_from_public_bytes(key_type: str, public_bytes: bytes) -> str:
    """Build a did:key from raw Ed25519 bytes or a compressed P-256 point.

    ``key_type`` is ``"Ed25519"`` or ``"P-256"``. The inverse of
    :func:`did_key_to_jwk`; tests use it to mint issuers.
    """
    codecs = {"Ed25519": MULTICODEC_ED25519_PUB, "P-256": MULTICODEC_P256_PUB}
    if key_type not in codecs:
        raise DidKeyError(f"unsupported key type {key_type!r}")
    return "did:key:z" + base58btc_encode(_varint(codecs[key_type]) + public_bytes)
