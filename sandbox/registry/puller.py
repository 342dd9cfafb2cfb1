"""The registry's side of the pull pattern: fetch a tenant's learner records from credsync.

A real registry runs this on its own schedule; the sandbox runs it when a test (or the demo)
asks. OAuth 2.0 client credentials (HTTP Basic client authentication), then the pages by
``next_cursor`` until there is none, honouring ``Retry-After`` on 429 once per request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import requests


class PullRefused(RuntimeError):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"credsync answered {status}: {body}")
        self.status = status
        self.body = body


@dataclass
class PullResult:
    learners: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0


def fetch_token(base_url: str, client_id: str, client_secret: str, *, timeout: float = 10.0) -> str:
    response = requests.post(f"{base_url.rstrip('/')}/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(client_id, client_secret), timeout=timeout)
    if response.status_code != 200:
        raise PullRefused(response.status_code, _body(response))
    return response.json()["access_token"]


def pull_tenant(base_url: str, client_id: str, client_secret: str, tenant: str, *, page_size: int = 50,
                timeout: float = 10.0) -> PullResult:
    """Every learner record of ``tenant`` the client may read."""
    token = fetch_token(base_url, client_id, client_secret, timeout=timeout)
    result = PullResult()
    cursor: str | None = None
    while True:
        params = {"limit": page_size, **({"cursor": cursor} if cursor else {})}
        body = get(f"{base_url.rstrip('/')}/v1/tenants/{tenant}/learners", token, params=params, timeout=timeout)
        result.learners.extend(body["learners"])
        result.pages += 1
        cursor = body.get("next_cursor")
        if not cursor:
            return result


def get(url: str, token: str, *, params: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
    for attempt in range(2):
        response = requests.get(url, params=params, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
        if response.status_code == 429 and attempt == 0:
            time.sleep(min(float(response.headers.get("Retry-After", "1")), 60.0))
            continue
        if response.status_code != 200:
            raise PullRefused(response.status_code, _body(response))
        return response.json()
    raise AssertionError("unreachable")


def _body(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text[:500]
