"""Request signing both ways: ``X-Marketplace-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>``.

credsync signs its events with its client's signing secret; the marketplace signs its webhooks with the
webhook secret, the same way, so one verifier serves both ends.
"""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Marketplace-Timestamp"
SIGNATURE_HEADER = "X-Marketplace-Signature"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signature_matches(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    """True if any ``v1=`` entry of ``header`` (comma-separated, as during a secret rotation) matches."""
    expected = sign(secret, timestamp, body)
    return any(hmac.compare_digest(expected.encode(), part.strip().encode()) for part in header.split(","))
