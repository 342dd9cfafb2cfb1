"""Retrying HTTP exchanges shared by the registry and HRIS write-back clients.

429 waits for ``Retry-After`` up to a cap (a longer one, or a call whose waits
would pass their total budget, ends at once as :class:`RegistryUnavailable`:
the next run retries); 5xx, timeouts and connection resets (also
mid-response: see :mod:`credsync.http_transient`) back off exponentially with
full jitter, bounded by :class:`~credsync.delivery.config.RetryPolicy`. The
body is read inside the retried section. Other request errors (a malformed
URL, a certificate that does not verify) are raised at once: sending again
cannot help. Every exchange is returned as an :class:`Attempt` so callers can
record request id, status and latency.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from credsync.delivery.config import RetryPolicy
from credsync.http_transient import is_transient


@dataclass(frozen=True)
class Attempt:
    """One HTTP exchange: what core.registry_attempts records."""

    request_id: str
    method: str
    path: str
    status: int | None
    latency_ms: int
    outcome: str  # ok | throttled | server_error | timeout | connection_error | rejected | unauthorized
    error: str | None = None


@dataclass
class Answer:
    """The final (non-retryable) answer of one logical request and every exchange it took."""

    status: int
    body: Any
    headers: dict[str, str]
    attempts: list[Attempt]


class RegistryError(Exception):
    """Base class of delivery HTTP errors; ``attempts`` lists every exchange made for the failed call."""

    def __init__(self, message: str, attempts: list[Attempt]) -> None:
        super().__init__(message)
        self.attempts = attempts


class RegistryUnavailable(RegistryError):
    """Transient failures (5xx, 429, timeouts, resets) outlasted the retry budget; try again later."""


# The same condition for any outside system; the name reads better at HRIS call sites.
ServiceUnavailable = RegistryUnavailable


def retry_after_seconds(value: str | None, default: float = 1.0) -> float:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return default
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def send_with_retry(
    session: requests.Session,
    method: str,
    url: str,
    *,
    path: str,
    policy: RetryPolicy,
    timeout: tuple[float, float],
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
    service: str = "service",
    **kwargs: Any,
) -> Answer:
    """Send until an answer that is not 429/5xx arrives; raise RegistryUnavailable past the budget."""
    rng = rng or random.Random()  # noqa: S311 - jitter, not security
    base_headers = dict(kwargs.pop("headers", None) or {})
    attempts: list[Attempt] = []
    failures = throttled = 0
    waited = 0.0
    while True:
        request_id = str(uuid.uuid4())
        started = time.monotonic()
        wait: float | None = None
        try:
            response = session.request(method, url, headers={**base_headers, "X-Request-Id": request_id},
                                        timeout=timeout, **kwargs)
            body = _body(response)  # inside the try: a reset during the download is retried too
        except Exception as exc:
            if not is_transient(exc):
                raise
            # Writes are safe to send again: each carries its Idempotency-Key or is a full-state PUT.
            timed_out = isinstance(exc, requests.Timeout | TimeoutError)
            attempts.append(_attempt(request_id, method, path, None, started,
                                     "timeout" if timed_out else "connection_error", exc))
            failures += 1
        else:
            status = response.status_code
            if status == 429:
                throttled += 1
                attempts.append(_attempt(request_id, method, path, status, started, "throttled"))
                wait = retry_after_seconds(response.headers.get("Retry-After"))
            elif status >= 500:
                failures += 1
                attempts.append(_attempt(request_id, method, path, status, started, "server_error", short(body)))
            else:
                outcome = "ok" if status < 400 or status == 409 else (
                    "unauthorized" if status == 401 else "rejected")
                attempts.append(_attempt(request_id, method, path, status, started, outcome))
                return Answer(status, body, {k.lower(): v for k, v in response.headers.items()}, attempts)
        if failures >= policy.max_attempts or throttled > policy.max_throttled:
            last = attempts[-1]
            raise RegistryUnavailable(
                f"{service} {method} {path}: gave up after {len(attempts)} attempts "
                f"({failures} failures, {throttled} throttled); last: {last.outcome} "
                f"{last.status or ''} {last.error or ''}".rstrip(), attempts)
        if wait is None:
            # Full jitter: spreads the retries of many clients instead of synchronising them.
            wait = rng.uniform(0, policy.backoff(failures))
        elif wait > policy.max_retry_after_seconds:
            raise RegistryUnavailable(
                f"{service} {method} {path}: asked to retry after {wait:.0f} s, more than the "
                f"{policy.max_retry_after_seconds:.0f} s a call waits (max_retry_after_seconds); "
                "left for the next run", attempts)
        if waited + wait > policy.max_total_wait_seconds:
            raise RegistryUnavailable(
                f"{service} {method} {path}: waiting {wait:.1f} s more would pass the "
                f"{policy.max_total_wait_seconds:.0f} s budget of one call (max_total_wait_seconds) after "
                f"{len(attempts)} attempts; left for the next run", attempts)
        waited += wait
        sleep(wait)


def _attempt(request_id: str, method: str, path: str, status: int | None, started: float, outcome: str,
             error: object = None) -> Attempt:
    return Attempt(request_id, method, path, status, int((time.monotonic() - started) * 1000), outcome,
                   None if error is None else short(str(error)))


def _body(response: requests.Response) -> Any:
    # msgspec rather than response.json(): a listing page of 500 records decodes several times faster.
    import msgspec

    try:
        return msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return response.text[:2000]


def short(value: Any, limit: int = 300) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."
