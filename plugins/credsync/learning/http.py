"""HTTP plumbing shared by the LRS and LMS hooks: a target, bounded retries, Retry-After.

Retried: 429 (after ``Retry-After``), 5xx, and transient transport failures,
including a connection reset in the middle of the body
(:func:`credsync.http_transient.is_transient`). Only GETs go through here, so a
retry is harmless; the body is read and decoded inside the retried call.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import requests
from tenacity import RetryCallState, retry, retry_if_exception, stop_after_attempt

from credsync.http_transient import is_transient

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ATTEMPTS = 6
TIMEOUT_S = (5, 30)


@dataclass(frozen=True)
class HttpTarget:
    """Where and as whom to call: ``base_url`` ends with '/', ``auth`` is Basic or a Bearer token."""

    base_url: str
    basic: tuple[str, str] | None = None
    bearer: str | None = None

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}

    def __repr__(self) -> str:  # never print secrets
        return f"HttpTarget(base_url={self.base_url!r})"


class RetryableStatus(Exception):
    """A 429 / 5xx answer worth another attempt."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"HTTP {response.status_code} from {response.url}")
        self.response = response


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RetryableStatus) or is_transient(exc)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, RetryableStatus) and exc.response.status_code == 429:
        try:  # the server says when; a small jitter keeps tenants from retrying in lockstep
            return min(float(exc.response.headers.get("Retry-After", "1")), 60.0) + random.uniform(0, 0.2)  # noqa: S311
        except ValueError:
            return 1.0
    return min(0.2 * 2 ** (state.attempt_number - 1), 10.0) + random.uniform(0, 0.2)  # noqa: S311


@retry(retry=retry_if_exception(_retryable), wait=_wait, stop=stop_after_attempt(MAX_ATTEMPTS), reraise=True)
def get_json(session: requests.Session, target: HttpTarget, url: str, *, params: Any = None,
             headers: dict[str, str] | None = None) -> tuple[Any, requests.structures.CaseInsensitiveDict]:
    """GET ``url`` and return (JSON body, headers); retries 429 (Retry-After), 5xx and transport failures."""
    response = session.get(url, params=params, headers={**target.headers(), **(headers or {})},
                           auth=target.basic, timeout=TIMEOUT_S)
    if response.status_code in RETRY_STATUSES:
        raise RetryableStatus(response)
    response.raise_for_status()
    return response.json(), response.headers
