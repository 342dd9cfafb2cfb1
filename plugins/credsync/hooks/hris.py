"""HRIS hook: the REST delta export (cursor-paged) and the CSV file-drop reader.

Connection (conn_type ``http``): ``host``, ``port``, ``schema`` (``http`` or
``https``) make the base URL; ``password`` is the tenant's Bearer token
(``login`` unused). Paths are derived from the tenant id:
``/api/v1/tenants/{tenant}/workers``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from airflow.providers.http.hooks.http import HttpHook

from credsync.people.http import ApiClient, HttpTarget
from credsync.people.staging import UnreadableRecord

DEFAULT_PAGE_SIZE = 500


class WorkerExport:
    """Iterate the workers of one (delta) export; ``as_of`` is known once the first page arrived.

    The HRIS window is ``updated_since <= updated_at < as_of``, so the next
    delta starts at this export's ``as_of`` and sees every change exactly once.
    """

    def __init__(self, client: ApiClient, tenant_id: str, updated_since: str | None,
                 page_size: int = DEFAULT_PAGE_SIZE) -> None:
        self.client, self.tenant_id = client, tenant_id
        self.updated_since, self.page_size = updated_since, page_size
        self.as_of: str | None = None
        self.pages = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": self.page_size}
            if self.updated_since:
                params["updated_since"] = self.updated_since
            if cursor:
                params["cursor"] = cursor
            body = self.client.request("GET", f"/api/v1/tenants/{self.tenant_id}/workers", params=params).json()
            self.pages += 1
            self.as_of = self.as_of or body["as_of"]
            yield from body["data"]
            cursor = body.get("next_cursor")
            if not cursor:
                return


#: Longest CSV cell read, in characters. csv's default (131,072) raised mid-file, failing the whole
#: file on every run; a longer cell (a 10 MB name) is read and refused by the mapping's ``max_length``
#: for its own record, naming the field. Past this a row is unreadable and quarantined as such.
CSV_FIELD_LIMIT = 64 * 1024 * 1024


def read_worker_csv(path: Path) -> Iterator[dict[str, Any] | UnreadableRecord]:
    """Rows of an HRIS CSV export (dotted column names like ``name.given``); blanks become None.

    Bytes that are not UTF-8 are read as lone surrogates (``surrogateescape``), so the mapping
    quarantines that record (``invalid_unicode``, naming the field) instead of the whole file
    failing to decode; a row the csv module cannot parse is yielded as an :class:`UnreadableRecord`.
    """
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))  # only ever raised: process-wide
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        reader = csv.DictReader(handle)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield UnreadableRecord(line=reader.line_num, error=str(exc))
                continue
            yield {key: (value if value != "" else None) for key, value in row.items()}


def worker_csv_header(path: Path) -> list[str | None]:
    """The header row of an HRIS CSV export as sent (staging checks it against the mapping)."""
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        return [name or None for name in next(csv.reader(handle), [])]


def latest_drop_file(drop_dir: Path, tenant_id: str, after: str | None = None) -> Path | None:
    """The newest ``workers_<UTC stamp>.csv`` in ``<drop_dir>/<tenant>/`` whose name sorts after ``after``."""
    files = sorted((drop_dir / tenant_id).glob("workers_*.csv"))
    candidates = [f for f in files if after is None or f.name > after]
    return candidates[-1] if candidates else None


class HrisHook(HttpHook):
    """Talks to one tenant's HRIS REST API (see module docstring for the Connection fields)."""

    conn_name_attr = "http_conn_id"
    hook_name = "credsync HRIS"

    def __init__(self, http_conn_id: str, tenant_id: str, **kwargs: Any) -> None:
        super().__init__(method="GET", http_conn_id=http_conn_id, **kwargs)
        self.tenant_id = tenant_id

    def target(self) -> HttpTarget:
        conn = self.get_connection(self.http_conn_id)
        if not conn.password:
            raise ValueError(f"connection {self.http_conn_id!r}: password (the HRIS Bearer token) is empty")
        scheme = conn.schema or "http"
        port = f":{conn.port}" if conn.port else ""
        return HttpTarget(f"{scheme}://{conn.host}{port}", {"Authorization": f"Bearer {conn.password}"})

    def export(self, updated_since: str | None, page_size: int = DEFAULT_PAGE_SIZE) -> WorkerExport:
        """A lazy delta export since ``updated_since`` (None = full export)."""
        return WorkerExport(ApiClient(self.target()), self.tenant_id, updated_since, page_size)
