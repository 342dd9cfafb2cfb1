"""LRS hook: the xAPI statements resource, pulled by ``since`` watermark.

Connection (conn_type ``http``): ``host``, ``port``, ``schema`` (``http``/``https``)
make the base URL; ``login``/``password`` are the tenant's HTTP Basic key and
secret. The endpoint is derived from the tenant id: ``/{tenant}/xAPI/``.
Extra (optional JSON): ``{"xapi_version": "1.0.3" | "2.0.0", "page_size": 500}``.

xAPI rules honoured: ``X-Experience-API-Version`` on every request; ``more``
is a relative IRL (with its own query string) resolved against the server;
statements are deduplicated by id; the watermark never advances past
``X-Experience-API-Consistent-Through`` (statements stored after it may still
be in flight and would be skipped forever).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import requests
from airflow.providers.http.hooks.http import HttpHook

from credsync.learning.http import HttpTarget, get_json

VERSION_HEADER = "X-Experience-API-Version"
CONSISTENT_HEADER = "X-Experience-API-Consistent-Through"
DEFAULT_VERSION = "1.0.3"
DEFAULT_PAGE_SIZE = 500
WATERMARK_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_watermark(moment: datetime) -> str:
    """Fixed-width UTC text, so watermarks compare correctly as strings in audit.sync_state."""
    return moment.astimezone(UTC).strftime(WATERMARK_FORMAT)


def parse_xapi_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class StatementPull:
    """Iterate the statements stored after ``since``; afterwards ``watermark`` is where to resume.

    ``watermark`` = the latest ``stored`` seen, capped at the earliest
    Consistent-Through header of the pull; unchanged (``since``) if nothing came.
    """

    def __init__(self, target: HttpTarget, *, since: str | None, version: str = DEFAULT_VERSION,
                 page_size: int = DEFAULT_PAGE_SIZE, session: requests.Session | None = None) -> None:
        self.target, self.since, self.version, self.page_size = target, since, version, page_size
        self.session = session or requests.Session()
        self.watermark: str | None = since
        self.pages = 0
        self.duplicates = 0
        self._consistent_through: datetime | None = None
        self._latest_stored: datetime | None = None

    def __iter__(self) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        url: str | None = urljoin(self.target.base_url, "statements")
        params: dict[str, Any] | None = {"limit": self.page_size, "ascending": "true", "format": "exact"}
        if self.since:
            params["since"] = self.since
        while url:
            body, headers = get_json(self.session, self.target, url, params=params,
                                     headers={VERSION_HEADER: self.version})
            self.pages += 1
            self._note_consistency(headers.get(CONSISTENT_HEADER))
            for statement in body.get("statements", []):
                statement_id = statement.get("id") if isinstance(statement, dict) else None
                if statement_id in seen:
                    self.duplicates += 1
                    continue
                if statement_id:
                    seen.add(statement_id)
                self._note_stored(statement)
                yield statement
            more = body.get("more") or ""
            # ``more`` carries its own query string (the original filters + a cursor).
            url, params = (urljoin(self.target.base_url, more), None) if more else (None, None)
        self._finish()

    def _note_consistency(self, header: str | None) -> None:
        if not header:
            return
        moment = parse_xapi_time(header)
        if self._consistent_through is None or moment < self._consistent_through:
            self._consistent_through = moment

    def _note_stored(self, statement: Any) -> None:
        try:
            stored = parse_xapi_time(statement["stored"])
        except (KeyError, TypeError, ValueError):
            return  # the normaliser quarantines it; it cannot move the watermark
        if self._latest_stored is None or stored > self._latest_stored:
            self._latest_stored = stored

    def _finish(self) -> None:
        if self._latest_stored is None:
            return
        resume = self._latest_stored
        if self._consistent_through is not None and self._consistent_through < resume:
            resume = self._consistent_through
        candidate = format_watermark(resume)
        if self.since is None or candidate > self.since:
            self.watermark = candidate


class LrsHook(HttpHook):
    """One tenant's LRS statements endpoint (see the module docstring for the Connection fields)."""

    conn_name_attr = "http_conn_id"
    hook_name = "credsync LRS (xAPI)"

    def __init__(self, http_conn_id: str, tenant_id: str, **kwargs: Any) -> None:
        super().__init__(method="GET", http_conn_id=http_conn_id, **kwargs)
        self.tenant_id = tenant_id

    def target(self) -> HttpTarget:
        conn = self.get_connection(self.http_conn_id)
        if not conn.login or not conn.password:
            raise ValueError(f"connection {self.http_conn_id!r} needs login and password (HTTP Basic key/secret)")
        scheme = conn.schema or "http"
        base = f"{scheme}://{conn.host}" + (f":{conn.port}" if conn.port else "")
        return HttpTarget(base_url=f"{base}/{self.tenant_id}/xAPI/", basic=(conn.login, conn.password))

    def pull_statements(self, since: str | None) -> StatementPull:
        extra = self.get_connection(self.http_conn_id).extra_dejson
        return StatementPull(self.target(), since=since, version=str(extra.get("xapi_version", DEFAULT_VERSION)),
                             page_size=int(extra.get("page_size", DEFAULT_PAGE_SIZE)))
