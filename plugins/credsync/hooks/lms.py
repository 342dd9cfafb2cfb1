"""LMS REST hook: completions export for LMSs without xAPI (SCORM-style status and score).

Connection (conn_type ``http``; fields read by :mod:`credsync.hooks.base`): the base URL is the
tenant's completions API root as the Connection gives it, path included (``host`` =
``https://lms.example.com/acme/lms/api/v1/``, or host + ``base_path`` extra); ``password`` is the
tenant's Bearer token (``login`` unused). The API pages itself; no extra is needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from credsync.hooks.base import CredsyncHttpHook
from credsync.hooks.transport import HttpClient


class CompletionExport:
    """Iterate LMS completions updated since ``updated_since``; afterwards ``watermark`` is the max updated_at."""

    def __init__(self, client: HttpClient, *, updated_since: str | None) -> None:
        self.client, self.updated_since = client, updated_since
        self.watermark: str | None = updated_since
        self.pages = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        token: str | None = None
        latest = self.updated_since
        while True:
            params: dict[str, Any] = {}
            if self.updated_since:
                params["updated_since"] = self.updated_since
            if token:
                params["page_token"] = token
            body = self.client.request("GET", "completions", params=params).json()
            self.pages += 1
            for item in body.get("items", []):
                updated = item.get("updated_at") if isinstance(item, dict) else None
                if isinstance(updated, str) and (latest is None or updated > latest):
                    latest = updated
                yield item
            token = body.get("next_page_token")
            if not token:
                break
        self.watermark = latest


class LmsHook(CredsyncHttpHook):
    """One tenant's LMS REST completions export (see the module docstring for the Connection fields)."""

    hook_name = "credsync LMS REST"
    default_auth = "bearer"
    service = "lms"

    def export_completions(self, updated_since: str | None) -> CompletionExport:
        return CompletionExport(self.http_client(), updated_since=updated_since)
