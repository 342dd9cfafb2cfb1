"""Opaque page cursors: URL-safe base64 of a small JSON document.

A cursor pins everything that must stay fixed across pages (tenant, query,
snapshot instant, last key), so a client cannot mix pages of different exports.
"""

from __future__ import annotations

import base64
import json
from typing import Any


class CursorError(ValueError):
    """The cursor is malformed or belongs to another query."""


def encode_cursor(payload: dict[str, Any]) -> str:
    """Cursor text for ``payload`` (JSON-serialisable)."""
    raw = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, kind: str, tenant_id: str) -> dict[str, Any]:
    """The payload of ``cursor``, checked to be a ``kind`` cursor of ``tenant_id``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CursorError(f"cursor {cursor[:40]!r} is not a cursor this HRIS issued") from exc
    if not isinstance(payload, dict) or payload.get("k") != kind or payload.get("t") != tenant_id:
        raise CursorError(f"cursor was issued for another listing or tenant, not {kind} of {tenant_id!r}")
    return payload
