"""LRS hook: the xAPI statements resource, pulled by ``since`` watermark.

Connection (conn_type ``http``; fields read by :mod:`credsync.hooks.base`): the base URL is the
LRS's xAPI endpoint as the Connection gives it, any path included (``host`` =
``https://lrs.example.com/data/xAPI/``, or host + ``base_path`` extra); one connection per tenant,
so the connection id is the tenant scope. ``login``/``password`` are the HTTP Basic key and secret.
Extra (optional JSON): ``{"xapi_version": "1.0.3" | "2.0" , "page_size": 500}``.

xAPI rules honoured: ``X-Experience-API-Version`` on every request; ``more``
is a relative IRL (with its own query string) resolved against the server;
statements are deduplicated by id where they are staged (SQL: a set of every id pulled would
grow with the pull), and :meth:`StatementPull.note_repeated` counts them; the watermark never advances past
``X-Experience-API-Consistent-Through`` (statements stored after it may still
be in flight and would be skipped forever).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from credsync.hooks.base import ConnectionConfigError, CredsyncHttpHook
from credsync.hooks.transport import HttpClient

VERSION_HEADER = "X-Experience-API-Version"
CONSISTENT_HEADER = "X-Experience-API-Consistent-Through"
DEFAULT_VERSION = "1.0.3"
#: The versions a connection may ask for, and the header value each sends (xAPI 2.0 is "2.0.0").
XAPI_VERSIONS = {"1.0.3": "1.0.3", "1.0": "1.0.3", "2.0": "2.0.0", "2.0.0": "2.0.0"}
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

    def __init__(self, client: HttpClient, *, since: str | None, version: str = DEFAULT_VERSION,
                 page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.client, self.since, self.version, self.page_size = client, since, version, page_size
        self.watermark: str | None = since
        self.pages = 0
        self.duplicates = 0
        self._consistent_through: datetime | None = None
        self._latest_stored: datetime | None = None

    def note_repeated(self, count: int) -> None:
        """Staging dropped ``count`` repeated copies of statements this pull yielded."""
        self.duplicates += count

    def __iter__(self) -> Iterator[dict[str, Any]]:
        base = self.client.endpoint.base_url + "/"
        url: str | None = urljoin(base, "statements")
        params: dict[str, Any] | None = {"limit": self.page_size, "ascending": "true", "format": "exact"}
        if self.since:
            params["since"] = self.since
        while url:
            answer = self.client.request("GET", url, params=params, headers={VERSION_HEADER: self.version})
            body, headers = answer.json(), answer.headers
            self.pages += 1
            self._note_consistency(headers.get(CONSISTENT_HEADER))
            for statement in body.get("statements", []):
                self._note_stored(statement)
                yield statement
            more = body.get("more") or ""
            # ``more`` carries its own query string (the original filters + a cursor).
            url, params = (urljoin(base, more), None) if more else (None, None)
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


class LrsHook(CredsyncHttpHook):
    """One tenant's LRS statements endpoint (see the module docstring for the Connection fields)."""

    hook_name = "credsync LRS (xAPI)"
    default_auth = "basic"
    service = "lrs"
    own_extras = frozenset({"lookback_hours", "reconcile_every_days", "reconcile_window_days"})

    def __init__(self, http_conn_id: str, tenant_id: str | None = None, *, xapi_version: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(http_conn_id, tenant_id, **kwargs)
        self._xapi_version = xapi_version

    def xapi_version(self) -> str:
        """The ``X-Experience-API-Version`` to send: the argument, else extra ``xapi_version``, else 1.0.3."""
        asked = str(self._xapi_version or self.extras.get("xapi_version") or DEFAULT_VERSION)
        if asked not in XAPI_VERSIONS:
            raise ConnectionConfigError(f"{self._where('xapi_version')}: {asked!r} is not one of "
                                        f"{', '.join(sorted(XAPI_VERSIONS))}")
        return XAPI_VERSIONS[asked]

    def pull_statements(self, since: str | None) -> StatementPull:
        return StatementPull(self.http_client(), since=since, version=self.xapi_version(),
                             page_size=int(self.extras.get("page_size", DEFAULT_PAGE_SIZE)))
