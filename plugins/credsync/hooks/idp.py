"""IdP hook: an Okta-style Groups API (groups, their users, users with role claims) for one tenant.

Connection (the tenant's ``idp_<tenant>``, conn_type ``http``; fields read by
:mod:`credsync.hooks.base`): the base URL is the org (``host`` as a full URL such as
``https://acme.okta.com``, or host + ``schema`` + ``port``; the sandbox serves each tenant under
``/{tenant}``, so its connection carries that path or extra ``{"base_path": "/{tenant}"}``);
``password`` is the API token, sent as Okta's ``Authorization: SSWS <token>`` (extra
``"auth": "bearer"`` sends an OAuth access token as ``Bearer`` instead). Extra ``page_size``
(default 200, Okta's maximum for users) sets ``limit``.

Okta pages with an opaque ``after`` cursor and announces the next page only in the ``Link``
header (``rel="next"``); the client follows that URL exactly as given, never building one. Reads
only, so every page is retried under the one retry policy (:mod:`credsync.hooks.transport`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests
from requests.auth import AuthBase

from credsync.hooks.base import CredsyncHttpHook
from credsync.hooks.transport import HttpClient, TokenAuth

PAGE_SIZE = 200
ACCEPT = "application/json"


class SswsAuth(TokenAuth):
    """Okta's API token scheme (``Authorization: SSWS <token>``); the token never shows in repr or logs."""

    scheme = "SSWS"


def next_link(headers: Any) -> str | None:
    """The ``rel="next"`` URL of a Link header (None on the last page)."""
    raw = headers.get("Link") if headers is not None else None
    if not raw:
        return None
    for link in requests.utils.parse_header_links(raw):
        if link.get("rel") == "next" and link.get("url"):
            return str(link["url"])
    return None


class IdpClient:
    """One org's Groups API (plain: no Airflow)."""

    def __init__(self, http: HttpClient, page_size: int = PAGE_SIZE) -> None:
        self.http, self.page_size = http, page_size

    @classmethod
    def for_url(cls, base_url: str, token: str, *, page_size: int = PAGE_SIZE, **kwargs: Any) -> IdpClient:
        """A client for the org at ``base_url`` (no Airflow Connection: tests); ``kwargs`` as for
        :meth:`HttpClient.for_url`."""
        return cls(HttpClient.for_url(base_url, auth=SswsAuth(token), headers={"Accept": ACCEPT}, service="idp",
                                      **kwargs), page_size=page_size)

    def _pages(self, path: str) -> Iterator[dict[str, Any]]:
        url: str | None = path
        params: dict[str, Any] | None = {"limit": self.page_size}
        while url:
            answer = self.http.request("GET", url, params=params)
            body = answer.json()
            if not isinstance(body, list):
                raise ValueError(f"idp GET {answer.url}: expected a JSON array, got {type(body).__name__}")
            yield from body
            url, params = next_link(answer.headers), None  # the next link carries limit and after itself

    def groups(self) -> Iterator[dict[str, Any]]:
        yield from self._pages("api/v1/groups")

    def group_users(self, group_id: str) -> Iterator[dict[str, Any]]:
        yield from self._pages(f"api/v1/groups/{requests.utils.quote(group_id, safe='')}/users")

    def users(self) -> Iterator[dict[str, Any]]:
        yield from self._pages("api/v1/users")


class IdpHook(CredsyncHttpHook):
    """Talks to one tenant's IdP (see module docstring for the Connection fields)."""

    hook_name = "credsync IdP"
    default_auth = "ssws"
    default_headers = {"Accept": ACCEPT}
    service = "idp"

    def __init__(self, http_conn_id: str, tenant_id: str, **kwargs: Any) -> None:
        super().__init__(http_conn_id, tenant_id, **kwargs)

    def auth(self) -> AuthBase | None:
        if str(self.extras.get("auth") or self.default_auth).lower() == "ssws":
            self._require(password=self.connection.password, field="password (the API token)")
            return SswsAuth(self.connection.password)
        return super().auth()

    def client(self) -> IdpClient:
        return IdpClient(self.http_client(), page_size=int(self.extras.get("page_size") or PAGE_SIZE))
