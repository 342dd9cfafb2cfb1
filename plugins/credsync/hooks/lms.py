"""LMS REST hook: completions export for LMSs without xAPI (SCORM-style status and score).

Connection (conn_type ``http``): ``host``, ``port``, ``schema`` make the base URL;
``password`` is the tenant's Bearer token (``login`` unused). The path is derived
from the tenant id: ``/{tenant}/lms/api/v1/completions``. Extra (optional JSON):
``{"page_size": 500}`` is not sent (the API pages itself); nothing else is read.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import requests
from airflow.providers.http.hooks.http import HttpHook

from credsync.learning.http import HttpTarget, get_json


class CompletionExport:
    """Iterate LMS completions updated since ``updated_since``; afterwards ``watermark`` is the max updated_at."""

    def __init__(self, target: HttpTarget, *, updated_since: str | None,
                 session: requests.Session | None = None) -> None:
        self.target, self.updated_since = target, updated_since
        self.session = session or requests.Session()
        self.watermark: str | None = updated_since
        self.pages = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        url = urljoin(self.target.base_url, "completions")
        token: str | None = None
        latest = self.updated_since
        while True:
            params: dict[str, Any] = {}
            if self.updated_since:
                params["updated_since"] = self.updated_since
            if token:
                params["page_token"] = token
            body, _ = get_json(self.session, self.target, url, params=params)
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


class LmsHook(HttpHook):
    """One tenant's LMS REST completions export (see the module docstring for the Connection fields)."""

    conn_name_attr = "http_conn_id"
    hook_name = "credsync LMS REST"

    def __init__(self, http_conn_id: str, tenant_id: str, **kwargs: Any) -> None:
        super().__init__(method="GET", http_conn_id=http_conn_id, **kwargs)
        self.tenant_id = tenant_id

    def target(self) -> HttpTarget:
        conn = self.get_connection(self.http_conn_id)
        if not conn.password:
            raise ValueError(f"connection {self.http_conn_id!r} needs the Bearer token in its password field")
        scheme = conn.schema or "http"
        base = f"{scheme}://{conn.host}" + (f":{conn.port}" if conn.port else "")
        return HttpTarget(base_url=f"{base}/{self.tenant_id}/lms/api/v1/", bearer=conn.password)

    def export_completions(self, updated_since: str | None) -> CompletionExport:
        return CompletionExport(self.target(), updated_since=updated_since)
