"""A small retrying HTTP client shared by the HRIS and SCIM hooks.

Plain code (no Airflow): hooks build an :class:`HttpTarget` from their
Connection; tests build one from a sandbox URL. Retries: 429 waits exactly
``Retry-After`` (capped), 5xx and transient transport failures (connection
errors, timeouts, a connection reset mid-response: see
:mod:`credsync.http_transient`) back off exponentially with jitter; attempts
are bounded. The body is read inside the retried section, so a reset during
the download is retried like one before the status line.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import tenacity

from credsync.http_transient import is_transient

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class HttpTarget:
    """Where and how to call one API. ``headers`` carry the credentials and never show in repr/logs."""

    base_url: str
    headers: dict[str, str] = field(default_factory=dict, repr=False)
    timeout: float = 30.0
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 20.0

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


class RetryableResponse(Exception):
    """A response worth retrying (429/5xx); carries it so the wait can read Retry-After."""

    def __init__(self, response: requests.Response) -> None:
        super().__init__(f"{response.request.method} {response.url} -> {response.status_code}")
        self.response = response


class ApiError(RuntimeError):
    """A non-retryable error response, or retries exhausted; names method, URL and status."""

    def __init__(self, message: str, response: requests.Response | None = None) -> None:
        super().__init__(message)
        self.response = response
        self.status = response.status_code if response is not None else None


def retry_after_seconds(response: requests.Response) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or HTTP date), capped; None if absent or unreadable."""
    raw = response.headers.get("Retry-After")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(raw) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, MAX_RETRY_AFTER))


class ApiClient:
    """``requests.Session`` + bounded retries for one :class:`HttpTarget`."""

    def __init__(self, target: HttpTarget, session: requests.Session | None = None) -> None:
        self.target = target
        self.session = session or requests.Session()
        self.session.headers.update(target.headers)

    def request(
        self,
        method: str,
        path: str,
        *,
        expect: Iterable[int] = (200,),
        retry: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request; return the response if its status is in ``expect``, else raise ApiError."""
        expected = frozenset(expect)
        url = self.target.url(path)
        kwargs.setdefault("timeout", self.target.timeout)

        def once() -> requests.Response:
            response = self.session.request(method, url, **kwargs)
            # Read the whole body here (also with stream=True): a reset mid-body must be retried.
            _ = response.content
            if response.status_code in RETRY_STATUSES and response.status_code not in expected:
                raise RetryableResponse(response)
            return response

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.target.max_attempts if retry else 1),
            wait=self._wait,
            retry=tenacity.retry_if_exception(lambda exc: isinstance(exc, RetryableResponse) or is_transient(exc)),
            reraise=True,
            before_sleep=lambda state: log.warning(
                "%s %s: attempt %d failed (%s); retrying", method, url, state.attempt_number,
                state.outcome.exception() if state.outcome else "?",
            ),
        )
        try:
            response = retrying(once)
        except RetryableResponse as exc:
            raise ApiError(
                f"{method} {url}: still {exc.response.status_code} after {self.target.max_attempts} attempts",
                exc.response,
            ) from None
        except Exception as exc:
            if not is_transient(exc):
                raise
            # status None: callers (a create that looks up before retrying) treat it as "answer lost".
            attempts = self.target.max_attempts if retry else 1
            raise ApiError(f"{method} {url}: {type(exc).__name__} after {attempts} attempt(s): {exc}") from exc
        if response.status_code not in expected:
            raise ApiError(
                f"{method} {url}: HTTP {response.status_code}: {response.text[:300]}", response
            )
        return response

    def _wait(self, state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableResponse) and exc.response.status_code == 429:
            after = retry_after_seconds(exc.response)
            if after is not None:
                return after
        exponential = min(self.target.backoff_max, self.target.backoff_base * 2 ** (state.attempt_number - 1))
        return random.uniform(0, exponential)  # noqa: S311 - jitter, not security
