"""Every outside call goes through here: where to call (:class:`Endpoint`), as whom (auth), one retry.

Plain Python over ``requests`` and ``tenacity`` (no Airflow): the hooks build an Endpoint from
their Connection (:mod:`credsync.hooks.base`); tests build one from a sandbox URL.

One policy (:class:`~credsync.hooks.policy.RetryPolicy`) for every system:

- 5xx (500/502/503/504), timeouts and connection resets, also in the middle of the body
  (:func:`credsync.http_transient.is_transient`), back off exponentially with full jitter for at
  most ``max_attempts`` attempts. The body is read and decoded inside the retried attempt, so a
  reset during the download is retried like one before the status line.
- 429 waits for ``Retry-After`` (seconds or an HTTP date) up to ``max_retry_after_seconds``; a
  longer one ends the call at once, and so does a wait that would take the call past
  ``max_total_wait_seconds``: a task holds a pool slot while it sleeps, so an hour-long wait
  belongs to the next run.
- Everything else is a final answer. Other request errors (a malformed URL, a certificate that
  does not verify) are raised at once: sending again cannot help.
- A 401 with token auth (OAuth2 client credentials) fetches one fresh token and sends again once.

Only requests that are safe to repeat should be retried (reads, full-state PUTs, writes with an
``Idempotency-Key``); a create without a key is sent with ``retry=False`` and the caller looks up
after a lost answer. Every exchange is kept as an :class:`Attempt` (client request id, status,
latency, outcome) for the ledgers that record them.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import tenacity
from requests.auth import AuthBase, HTTPBasicAuth

from credsync.hooks.policy import RetryPolicy, Timeouts, http_settings
from credsync.http_transient import is_transient

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Attempt:
    """One HTTP exchange: what core.registry_attempts (and the logs) record."""

    request_id: str
    method: str
    path: str
    status: int | None
    latency_ms: int
    outcome: str  # ok | throttled | server_error | timeout | connection_error | rejected | unauthorized
    error: str | None = None


@dataclass
class Answer:
    """The final answer of one logical request (any status but 429/5xx) and every exchange it took."""

    status: int
    body: Any  # decoded JSON, or the text (first 2,000 characters) when the body is not JSON
    headers: Mapping[str, str]  # case-insensitive
    attempts: list[Attempt]
    url: str = ""
    is_json: bool = True

    def json(self) -> Any:
        """The decoded JSON body; a body that arrived whole but is not JSON is a final error."""
        if not self.is_json:
            raise Rejected(f"{self.url}: HTTP {self.status} answer is not JSON: {short(self.body)}",
                           self.attempts, self.status, self.body)
        return self.body


class ServiceError(RuntimeError):
    """A call that did not end with the answer wanted; ``attempts`` lists every exchange made.

    ``status`` is the last HTTP status, or None when the answer was lost in transit (a create
    sent once then knows to look up before sending again).
    """

    def __init__(self, message: str, attempts: list[Attempt], status: int | None = None,
                 body: Any = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status
        self.body = body


class ServiceUnavailable(ServiceError):
    """Transient failures (5xx, 429, timeouts, resets) outlasted the retry budget; try again later."""


class Rejected(ServiceError):
    """A final answer other than the ones expected (4xx): retrying the same request cannot help."""


class AccessDenied(ServiceError):
    """401/403, or the token request failed: the connection's credentials are wrong.

    Not a property of any one record, so nothing is dead-lettered; the task fails loudly.
    """


def retry_after_seconds(value: str | None, default: float = 1.0) -> float:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``default`` if unreadable."""
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
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


class TokenAuth(AuthBase):
    """``Authorization: <scheme> <token>``; the token never shows in repr or logs.

    Subclasses name their scheme: ``Bearer`` (RFC 6750), Okta's ``SSWS``, Credential Engine's ``ApiToken``.
    """

    scheme = "Bearer"

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"{self.scheme} {self._token}"
        return request

    def __repr__(self) -> str:
        return f"{type(self).__name__}(***)"


class BearerAuth(TokenAuth):
    scheme = "Bearer"


class OAuth2ClientCredentials(AuthBase):
    """OAuth2 client credentials (RFC 6749 §4.4) with a token cache shared by every call of a client.

    The token is fetched through the same retrying client (client id and secret as HTTP Basic),
    fetched again ``refresh_margin_seconds`` before it expires (at most half its lifetime), and
    dropped on a 401 so the client sends once more with a fresh one. Thread-safe.
    """

    def __init__(self, token_url: str, client_id: str, client_secret: str, *, scope: str | None = None,
                 refresh_margin_seconds: float = 30.0) -> None:
        self.token_url, self.client_id, self.scope = token_url, client_id, scope
        self._secret = client_secret
        self.refresh_margin_seconds = refresh_margin_seconds
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OAuth2ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def token(self, client: HttpClient) -> str:
        """A valid access token, from the cache or fetched now."""
        with self._lock:
            if self._token and time.monotonic() < self._expires_at:
                return self._token
            data = {"grant_type": "client_credentials", **({"scope": self.scope} if self.scope else {})}
            answer = client.call("POST", self.token_url, data=data, auth=HTTPBasicAuth(self.client_id, self._secret))
            body = answer.body
            if answer.status != 200 or not isinstance(body, dict) or "access_token" not in body:
                raise AccessDenied(f"token request for client {self.client_id!r} at {self.token_url} failed "
                                   f"with {answer.status}: {short(body)}", answer.attempts, answer.status, body)
            ttl = float(body.get("expires_in", 60))
            self._token = str(body["access_token"])
            self._expires_at = time.monotonic() + ttl - min(self.refresh_margin_seconds, ttl / 2)
            return self._token

    def invalidate(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        # HttpClient sends each request with the token it fetched (BearerAuth), so a token another
        # thread drops meanwhile cannot change a request in flight; this serves a bare session.
        if self._token:
            request.headers["Authorization"] = f"Bearer {self._token}"
        return request


@dataclass(frozen=True)
class Endpoint:
    """Where one API answers and how to reach it. ``auth`` and ``headers`` never show in repr/logs."""

    base_url: str
    auth: AuthBase | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeouts: Timeouts = field(default_factory=lambda: http_settings().timeouts)
    policy: RetryPolicy = field(default_factory=lambda: http_settings().retry)
    verify: bool | str = True  # False, True or the path of a CA bundle
    cert: str | tuple[str, str] | None = None
    service: str = "http"  # names the system in errors and logs

    def url(self, path: str) -> str:
        """``path`` below the base URL (one slash between); an absolute URL is used as it is."""
        if "://" in path:
            return path
        if not path:
            return self.base_url
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


class _Retryable(Exception):
    """A 429/5xx answer worth another attempt; carries what the wait and the final error need."""

    def __init__(self, answer: Answer, retry_after: float | None) -> None:
        super().__init__(f"HTTP {answer.status}")
        self.answer, self.retry_after = answer, retry_after


class HttpClient:
    """One session for one :class:`Endpoint`, every request under the endpoint's retry policy."""

    def __init__(self, endpoint: Endpoint, *, session: requests.Session | None = None,
                 sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None) -> None:
        self.endpoint = endpoint
        self.session = session or requests.Session()
        self.session.headers.update(endpoint.headers)
        self.session.verify = endpoint.verify
        self.session.cert = endpoint.cert
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security

    @classmethod
    def for_url(cls, base_url: str, *, session: requests.Session | None = None,
                sleep: Callable[[float], None] = time.sleep, rng: random.Random | None = None,
                **endpoint: Any) -> HttpClient:
        """A client for ``base_url`` without an Airflow Connection (tests, benchmarks); ``endpoint``:
        the other :class:`Endpoint` fields (``auth``, ``policy``, ``timeouts``, ...)."""
        return cls(Endpoint(base_url, **endpoint), session=session, sleep=sleep, rng=rng)

    def __repr__(self) -> str:
        return f"HttpClient({self.endpoint!r})"

    @property
    def policy(self) -> RetryPolicy:
        return self.endpoint.policy

    def request(self, method: str, path: str, *, expect: Iterable[int] = (200,), **kwargs: Any) -> Answer:
        """:meth:`call`, then raise :class:`AccessDenied` (401/403) or :class:`Rejected` for any status
        not in ``expect``."""
        answer = self.call(method, path, **kwargs)
        if answer.status in frozenset(expect):
            return answer
        kind = AccessDenied if answer.status in (401, 403) else Rejected
        raise kind(f"{self.endpoint.service} {method} {answer.url}: HTTP {answer.status}: {short(answer.body)}",
                   answer.attempts, answer.status, answer.body)

    def call(self, method: str, path: str, *, retry: bool = True, **kwargs: Any) -> Answer:
        """Send until a final answer (any status but 429/5xx) and return it; raise
        :class:`ServiceUnavailable` past the retry budget. ``retry=False`` sends once."""
        attempts: list[Attempt] = []
        auth = self.endpoint.auth if "auth" not in kwargs else None
        refreshed = False
        while True:
            token = auth.token(self) if isinstance(auth, OAuth2ClientCredentials) else None
            answer = self._send(method, path, retry=retry, attempts=attempts, token=token, **kwargs)
            if answer.status == 401 and token is not None and not refreshed:
                # Revoked or expired early: one fresh token, then a 401 is final.
                refreshed = True
                auth.invalidate(token)  # type: ignore[union-attr]
                continue
            return answer

    def _send(self, method: str, path: str, *, retry: bool, attempts: list[Attempt], token: str | None,
              headers: Mapping[str, str] | None = None, **kwargs: Any) -> Answer:
        policy, url = self.policy, self.endpoint.url(path)
        kwargs.setdefault("timeout", self.endpoint.timeouts.as_requests())
        # Per request, not on the session: a session may be shared, and a token is the one of this call.
        kwargs.setdefault("auth", BearerAuth(token) if token is not None else self.endpoint.auth)
        stop_reason: list[str] = []

        def once() -> Answer:
            request_id = str(uuid.uuid4())
            started = time.monotonic()
            try:
                response = self.session.request(method, url, headers={**(headers or {}), "X-Request-Id": request_id},
                                                **kwargs)
                body, is_json = _decode(response)  # inside the attempt: a reset mid-body is retried too
            except Exception as exc:
                if is_transient(exc):
                    timed_out = isinstance(exc, requests.Timeout | TimeoutError)
                    attempts.append(_attempt(request_id, method, path, None, started,
                                             "timeout" if timed_out else "connection_error", exc))
                raise
            status = response.status_code
            answer = Answer(status, body, response.headers, attempts, url=url, is_json=is_json)
            if status in RETRY_STATUSES:
                throttled = status == 429
                attempts.append(_attempt(request_id, method, path, status, started,
                                         "throttled" if throttled else "server_error",
                                         None if throttled else short(body)))
                after = retry_after_seconds(response.headers.get("Retry-After")) if throttled else None
                raise _Retryable(answer, after)
            outcome = "ok" if status < 400 or status == 409 else ("unauthorized" if status == 401 else "rejected")
            attempts.append(_attempt(request_id, method, path, status, started, outcome))
            return answer

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, _Retryable) and exc.retry_after is not None:
                return exc.retry_after
            # Full jitter: spreads the retries of many clients instead of synchronising them.
            return self._rng.uniform(0, policy.backoff(_failures(attempts)))

        def stop(state: tenacity.RetryCallState) -> bool:
            exc = state.outcome.exception() if state.outcome else None
            failures, throttled = _failures(attempts), len(attempts) - _failures(attempts)
            upcoming = state.upcoming_sleep
            last = attempts[-1] if attempts else None
            last_text = f"{last.outcome} {last.status or ''} {last.error or ''}".rstrip() if last else "?"
            if not retry:
                reason = f"sent once (not retried); {last_text}"
            elif failures >= policy.max_attempts or throttled > policy.max_throttled:
                reason = (f"gave up after {len(attempts)} attempts ({failures} failures, {throttled} throttled); "
                          f"last: {last_text}")
            elif isinstance(exc, _Retryable) and exc.retry_after is not None \
                    and upcoming > policy.max_retry_after_seconds:
                reason = (f"asked to retry after {upcoming:.0f} s, more than the {policy.max_retry_after_seconds:.0f}"
                          " s a call waits (max_retry_after_seconds); left for the next run")
            elif state.idle_for + upcoming > policy.max_total_wait_seconds:
                reason = (f"waiting {upcoming:.1f} s more would pass the {policy.max_total_wait_seconds:.0f} s "
                          f"budget of one call (max_total_wait_seconds) after {len(attempts)} attempts; "
                          "left for the next run")
            else:
                return False
            stop_reason.append(reason)
            return True

        def give_up(state: tenacity.RetryCallState) -> Answer:
            exc = state.outcome.exception() if state.outcome else None
            status = exc.answer.status if isinstance(exc, _Retryable) else None
            body = exc.answer.body if isinstance(exc, _Retryable) else None
            raise ServiceUnavailable(f"{self.endpoint.service} {method} {url}: {stop_reason[-1]}",
                                     attempts, status, body) from exc

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(lambda exc: isinstance(exc, _Retryable) or is_transient(exc)),
            wait=wait, stop=stop, sleep=self._sleep, retry_error_callback=give_up,
            before_sleep=lambda state: _log_retry(self.endpoint.service, method, url, attempts, state.upcoming_sleep),
        )
        return retrying(once)


def _log_retry(service: str, method: str, url: str, attempts: list[Attempt], wait: float) -> None:
    last = attempts[-1] if attempts else None
    # The transport error names the cut (IncompleteRead, reset); an error body is not logged.
    what = "?" if last is None else last.outcome + (f" {last.status}" if last.status else "") + (
        f" ({last.error})" if last.status is None and last.error else "")
    log.warning("%s %s %s: attempt %d: %s; retrying in %.1f s", service, method, url, len(attempts), what, wait)


def _failures(attempts: list[Attempt]) -> int:
    return sum(1 for a in attempts if a.outcome in ("server_error", "timeout", "connection_error"))


def _attempt(request_id: str, method: str, path: str, status: int | None, started: float, outcome: str,
             error: object = None) -> Attempt:
    return Attempt(request_id, method, path, status, int((time.monotonic() - started) * 1000), outcome,
                   None if error is None else short(str(error)))


def _decode(response: requests.Response) -> tuple[Any, bool]:
    # msgspec first: a listing page of 500 records decodes several times faster than json.loads;
    # json.loads for what msgspec refuses but Python reads (lone surrogate escapes, NaN).
    import msgspec

    content = response.content
    if not content:
        return None, True
    try:
        return msgspec.json.decode(content), True
    except msgspec.DecodeError:
        pass
    try:
        return json.loads(content), True
    except ValueError:
        return response.text[:2000], False


def short(value: Any, limit: int = 300) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


__all__ = [
    "AccessDenied", "Answer", "Attempt", "BearerAuth", "Endpoint", "HTTPBasicAuth", "HttpClient",
    "OAuth2ClientCredentials", "Rejected", "RetryPolicy", "ServiceError", "ServiceUnavailable", "Timeouts",
    "retry_after_seconds", "short",
]
