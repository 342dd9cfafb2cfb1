"""What every signed inbound webhook shares: the signature scheme, the body limit, the JSON checks.

Plain code, importable without Airflow. The HRIS lifecycle webhooks
(:mod:`credsync.people.webhooks`) and the LMS completion webhooks
(:mod:`credsync.events.receiver`) differ only in their header name, their event
fields and what an accepted event starts; both verify a delivery the same way:

- header ``<name>: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``
  (several ``v1=`` entries are allowed, so a sender can sign with an old and a
  new secret while one is rotated);
- the signature is compared in constant time before anything parses the body,
  and ``t`` must lie within a tolerance of now, either side;
- a body is at most ``max_body_bytes`` (64 KiB unless configured, 1 KiB to 1 MiB);
- the body is a JSON object storable in Postgres as it is (no NUL, lone
  surrogate or non-finite number anywhere in it).

The secret and the signature are never logged, stored or put in an error.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from enum import StrEnum
from typing import Any

from credsync.quality.quarantine import REFUSED_BY_POSTGRES

DEFAULT_TOLERANCE_SECONDS = 300
MAX_BODY_BYTES = 64 * 1024
# The most an operator may raise the limit to: a receiver in the api-server holds up to this much
# per concurrent request from senders it has not authenticated yet.
MAX_BODY_BYTES_CEILING = 1024 * 1024
TENANT_ID = re.compile(r"^[a-z][a-z0-9_]{1,30}$")  # as include/tenants.yaml allows
_HEX_DIGEST = re.compile(r"^[0-9a-fA-F]{64}$")
_UNIX_SECONDS = re.compile(r"^[0-9]{1,12}$")
_CONTENT_LENGTH = re.compile(r"^[0-9]{1,20}$")


class Rejection(StrEnum):
    """Why a delivery was refused (also the ``reason`` the receiver answers with)."""

    UNKNOWN_TENANT = "unknown_tenant"
    BAD_SIGNATURE = "bad_signature"
    STALE_TIMESTAMP = "stale_timestamp"
    MALFORMED = "malformed"
    TOO_LARGE = "too_large"
    REPLAYED_WITH_DIFFERENT_BODY = "replayed_with_different_body"


class WebhookRejected(Exception):
    """A delivery that is not processed; ``detail`` is safe to log and to answer with."""

    def __init__(self, reason: Rejection, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (for tests, tools and sandboxes)."""
    return f"t={timestamp},v1={_digest(secret, str(timestamp), body)}"


def verify_signature(
    secret: str,
    body: bytes,
    header: str | None,
    *,
    now: float,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    header_name: str,
) -> int:
    """Check ``header`` (the value of ``header_name``) against ``body``; returns the signed timestamp.

    Raises :class:`WebhookRejected` with ``bad_signature`` (missing, unreadable
    or not matching) or ``stale_timestamp`` (signed more than
    ``tolerance_seconds`` before or after ``now``). The signature is checked
    first, so a forger learns nothing from the timestamp rule.
    """
    if not secret:
        raise ValueError("the webhook secret is empty")
    stamp, candidates = _parse_header(header, header_name)
    expected = _digest(secret, stamp, body).encode()
    # Compare against every candidate (no early exit), each in constant time.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate.lower().encode())
    if not matched:
        raise WebhookRejected(Rejection.BAD_SIGNATURE, "signature does not match the body")
    skew = now - int(stamp)
    if abs(skew) > tolerance_seconds:
        when = "old" if skew > 0 else "in the future"
        raise WebhookRejected(
            Rejection.STALE_TIMESTAMP,
            f"signed {abs(skew):.0f}s {when}; the window is {tolerance_seconds:.0f}s",
        )
    return int(stamp)


def check_signature_header(header: str | None, header_name: str) -> None:
    """Raise ``bad_signature`` when ``header`` is missing or unreadable (no secret needed).

    Lets the HTTP layer refuse an unsigned request before reading its body;
    whether the signature matches is decided later, by :func:`verify_signature`.
    """
    _parse_header(header, header_name)


def check_declared_length(content_length: str | None, max_body_bytes: int = MAX_BODY_BYTES) -> int | None:
    """The body length a ``Content-Length`` header declares, or None when it declares none (chunked).

    Raises ``too_large`` when it declares more than ``max_body_bytes`` and
    ``malformed`` when it is not a length. A missing header is no refusal: the
    limit is then enforced while the body is read.
    """
    if content_length is None:
        return None
    value = content_length.strip()
    if not _CONTENT_LENGTH.match(value):
        raise WebhookRejected(Rejection.MALFORMED, "header Content-Length is not a number of bytes")
    declared = int(value)
    if declared > max_body_bytes:
        raise WebhookRejected(Rejection.TOO_LARGE, f"body of {declared} bytes declared; the limit is "
                                                   f"{max_body_bytes} bytes")
    return declared


def check_body_size(body: bytes, max_body_bytes: int = MAX_BODY_BYTES) -> None:
    """Raise ``too_large`` when ``body`` is longer than ``max_body_bytes``."""
    if len(body) > max_body_bytes:
        raise WebhookRejected(Rejection.TOO_LARGE, f"body is larger than {max_body_bytes} bytes")


def check_max_body_bytes(max_body_bytes: int) -> int:
    """``max_body_bytes`` if it is a sane limit (1 KiB to 1 MiB), else ValueError."""
    if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int) \
            or not 1024 <= max_body_bytes <= MAX_BODY_BYTES_CEILING:
        raise ValueError(f"the webhook body limit must be 1024 to {MAX_BODY_BYTES_CEILING} bytes, "
                         f"got {max_body_bytes!r}")
    return max_body_bytes


def parse_json_object(body: bytes, *, max_body_bytes: int = MAX_BODY_BYTES,
                      contract_fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """``body`` as a JSON object that Postgres can store as it is; raises ``malformed``.

    ``contract_fields`` only names fields in the error (a field outside them is
    "a field outside the contract").
    """
    def malformed(detail: str) -> WebhookRejected:
        return WebhookRejected(Rejection.MALFORMED, detail)

    if len(body) > max_body_bytes:
        raise malformed(f"body is larger than {max_body_bytes} bytes")
    try:
        data = json.loads(body, parse_constant=_no_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, ValueError):
        raise malformed("body is not JSON") from None
    except RecursionError:  # nesting deeper than the parser's stack; no event looks like that
        raise malformed("body is nested too deeply") from None
    if not isinstance(data, dict):
        raise malformed("body is not a JSON object")
    for key, value in data.items():
        if unstorable(key) or unstorable(value):
            where = f"field {key!r}" if key in contract_fields else "a field outside the contract"
            raise malformed(f"{where} contains a NUL or a lone surrogate, which cannot be stored")
    return data


def unstorable(value: Any) -> bool:
    """Whether a string (or key) anywhere in ``value`` holds a character Postgres cannot store."""
    stack = [value]
    while stack:  # iterative: a deeply nested body must not exhaust the stack here either
        item = stack.pop()
        if isinstance(item, str):
            if REFUSED_BY_POSTGRES.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def shown_tenant(tenant_id: str) -> str:
    """The path tenant as it may be logged: only if it looks like a tenant id."""
    return tenant_id if TENANT_ID.match(tenant_id) else "<not a tenant id>"


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")  # json.loads accepts NaN/Infinity; jsonb does not


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 parses as inf, which jsonb cannot hold
        raise ValueError(f"{text[:20]} is out of range")
    return value


def _digest(secret: str, stamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _parse_header(header: str | None, header_name: str) -> tuple[str, list[str]]:
    """``(t, [v1, ...])`` from the header; ``bad_signature`` when it cannot be read."""
    if not header:
        raise WebhookRejected(Rejection.BAD_SIGNATURE, f"header {header_name} is missing")
    stamp: str | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            stamp = value.strip()
        elif key == "v1" and _HEX_DIGEST.match(value.strip()):
            candidates.append(value.strip())
    if stamp is None or not _UNIX_SECONDS.match(stamp):
        raise WebhookRejected(Rejection.BAD_SIGNATURE, f"header {header_name} has no valid t=<unix seconds>")
    if not candidates:
        raise WebhookRejected(Rejection.BAD_SIGNATURE, f"header {header_name} has no v1=<hex HMAC-SHA256>")
    return stamp, candidates
