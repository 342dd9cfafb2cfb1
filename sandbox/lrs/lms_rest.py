"""The LMS REST completions export (SCORM-style items) for LMSs without xAPI.

``GET /{tenant}/lms/api/v1/completions?updated_since=ISO&page_token=T&page_size=N`` pages
items in ``(updated_at, enrollment_id)`` order. ``updated_since`` is inclusive, so a client
that re-reads from its last seen ``updated_at`` never misses an item that shares it. The
page token is opaque (base64 JSON of the last item's position and the window start) and
carries the window, so following pages need only ``page_token``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from sandbox.lrs.store import LrsStore
from sandbox.lrs.timestamps import TimestampError, iso_to_micros

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def _encode(updated_us: int, enrollment_id: str, since_us: int | None) -> str:
    raw = json.dumps({"u": updated_us, "e": enrollment_id, "s": since_us}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(token: str) -> tuple[tuple[int, str], int | None]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return (int(data["u"]), str(data["e"])), (None if data["s"] is None else int(data["s"]))
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise ValueError("page_token is not one this LMS issued") from None


def completions_page(store: LrsStore, tenant: str, params: Mapping[str, str]) -> dict[str, Any]:
    """One page of the export as the JSON body to return; ValueError names a bad parameter."""
    unknown = set(params) - {"updated_since", "page_token", "page_size"}
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}")
    raw_size = params.get("page_size", str(DEFAULT_PAGE_SIZE))
    if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be an integer from 1 to {MAX_PAGE_SIZE}, got {raw_size!r}")
    page_size = int(raw_size)
    after: tuple[int, str] | None = None
    if params.get("page_token"):
        after, since_us = _decode(params["page_token"])
    elif params.get("updated_since"):
        try:
            since_us = iso_to_micros(params["updated_since"])
        except TimestampError as exc:
            raise ValueError(f"updated_since: {exc}") from None
    else:
        since_us = None
    rows = store.page_completions(tenant, since_us=since_us, after=after, limit=page_size + 1)
    next_token = None
    if len(rows) > page_size:
        rows = rows[:page_size]
        next_token = _encode(rows[-1][0], rows[-1][1], since_us)
    return {"items": [json.loads(body) for _, _, body in rows], "next_page_token": next_token}
