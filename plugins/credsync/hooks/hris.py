"""HRIS hook: the REST delta export (cursor-paged) and the write-back endpoints.

The CSV file drop is not HTTP: :mod:`credsync.people.filedrop` reads it from the object store.

Connection (the tenant's ``hris_<tenant>``, conn_type ``http``; fields read by
:mod:`credsync.hooks.base`): the base URL (``host`` as a full URL such as
``https://hris.example.com``, or host + ``schema`` + ``port``, any path kept);
``password`` is the tenant's Bearer token (``login`` unused). Paths below it
carry the tenant id: ``/api/v1/tenants/{tenant}/workers``,
``.../workers/{employee_id}/certifications/{type}`` and ``.../payroll-flags/{flag}``
(upserts: re-sending the same body is harmless), ``/api/v1/tenants/{tenant}/certifications``
and ``/payroll-flags`` (the listings reconciliation reads).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from credsync.hooks.base import CredsyncHttpHook
from credsync.hooks.transport import Answer, BearerAuth, HttpClient

DEFAULT_PAGE_SIZE = 500
LISTING_PAGE_SIZE = 500
WRITEBACK_PATHS = {"hris_profile": "certifications", "payroll_flag": "payroll-flags"}


class WorkerExport:
    """Iterate the workers of one (delta) export; ``as_of`` is known once the first page arrived.

    The HRIS window is ``updated_since <= updated_at < as_of``, so the next
    delta starts at this export's ``as_of`` and sees every change exactly once.
    """

    def __init__(self, client: HttpClient, tenant_id: str, updated_since: str | None,
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
            body = self.client.request("GET", f"{tenant_path(self.tenant_id)}/workers", params=params).json()
            self.pages += 1
            self.as_of = self.as_of or body["as_of"]
            yield from body["data"]
            cursor = body.get("next_cursor")
            if not cursor:
                return


def tenant_path(tenant_id: str) -> str:
    return f"/api/v1/tenants/{quote(tenant_id, safe='')}"


class HrisClient:
    """One tenant's HRIS API: the worker export, write-backs and their listings (plain: no Airflow)."""

    def __init__(self, http: HttpClient, tenant_id: str) -> None:
        self.http, self.tenant_id = http, tenant_id

    @classmethod
    def for_url(cls, base_url: str, tenant_id: str, token: str, **kwargs: Any) -> HrisClient:
        """A client for the HRIS at ``base_url`` (no Airflow Connection: tests, benchmarks);
        ``kwargs`` as for :meth:`HttpClient.for_url`."""
        return cls(HttpClient.for_url(base_url, auth=BearerAuth(token), service="hris", **kwargs), tenant_id)

    def export(self, updated_since: str | None, page_size: int = DEFAULT_PAGE_SIZE) -> WorkerExport:
        """A lazy delta export since ``updated_since`` (None = full export)."""
        return WorkerExport(self.http, self.tenant_id, updated_since, page_size)

    def put(self, target: str, employee_id: str, key: str, payload: dict[str, Any]) -> Answer:
        """PUT one write-back (``target`` is hris_profile or payroll_flag); the final answer, any status.

        Raises ServiceUnavailable when 429/5xx/timeouts outlast the retry budget.
        """
        path = (f"{tenant_path(self.tenant_id)}/workers/{quote(employee_id, safe='')}/"
                f"{WRITEBACK_PATHS[target]}/{quote(key, safe='')}")
        return self.http.call("PUT", path, json=payload)

    def writebacks(self, target: str) -> Iterator[dict[str, Any]]:
        """Every item of one write-back listing (``target`` as for :meth:`put`), cursor-paged."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": LISTING_PAGE_SIZE, **({"cursor": cursor} if cursor else {})}
            page = self.http.request("GET", f"{tenant_path(self.tenant_id)}/{WRITEBACK_PATHS[target]}",
                                     params=params).json()
            yield from page.get("data") or []
            cursor = page.get("next_cursor")
            if not cursor:
                return


class HrisHook(CredsyncHttpHook):
    """Talks to one tenant's HRIS REST API (see module docstring for the Connection fields)."""

    hook_name = "credsync HRIS"
    default_auth = "bearer"
    service = "hris"

    def __init__(self, http_conn_id: str, tenant_id: str, **kwargs: Any) -> None:
        super().__init__(http_conn_id, tenant_id, **kwargs)

    def client(self) -> HrisClient:
        return HrisClient(self.http_client(), self.tenant_id)

    def export(self, updated_since: str | None, page_size: int = DEFAULT_PAGE_SIZE) -> WorkerExport:
        """A lazy delta export since ``updated_since`` (None = full export)."""
        return self.client().export(updated_since, page_size)
