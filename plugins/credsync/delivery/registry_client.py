"""A client for the national registry API (contract: sandbox/registry/openapi.yaml).

Plain Python over ``requests`` so tests and the benchmark use it without
Airflow; :class:`credsync.hooks.registry.RegistryHook` builds one from the
``registry_national`` connection.

- OAuth2 client credentials; the token is cached and refreshed
  ``token_refresh_margin_seconds`` before it expires (and once on a 401).
- Every write carries the caller's deterministic ``Idempotency-Key``, so a
  retry after a timeout or a connection reset mid-response is harmless: the
  registry replays its stored answer.
- 429 waits for ``Retry-After``; 5xx, timeouts and resets back off
  exponentially with full jitter (start 0.5 s, x2, cap 30 s) for a bounded
  number of attempts, then raise :class:`RegistryUnavailable`.
- Other 4xx are final: :class:`RegistryRejected` carries the problem body.
- Each HTTP exchange is reported as an :class:`Attempt` (client request id,
  status, latency) so the caller can record it in core.registry_attempts.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from credsync.delivery.config import RegistrySettings, RetryPolicy
from credsync.delivery.http_retry import (
    Attempt,
    RegistryError,
    RegistryUnavailable,
    retry_after_seconds,
    send_with_retry,
    short,
)

__all__ = [
    "Attempt",
    "ItemOutcome",
    "RegistryAccessDenied",
    "RegistryClient",
    "RegistryError",
    "RegistryRejected",
    "RegistryTarget",
    "RegistryUnavailable",
    "retry_after_seconds",
]

WRITE_SCOPES = "certificates:read certificates:write"


@dataclass(frozen=True)
class RegistryTarget:
    """Where the registry is and who we are to it. ``client_secret`` never appears in repr/logs."""

    base_url: str
    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True)
class ItemOutcome:
    """The registry's answer for one certificate write.

    ``status`` is the item status: 201 created, 200 replayed / revoked, 409
    already there (``registry_id`` names it), 422/400/404 rejected (``problem``).
    """

    idempotency_key: str
    status: int
    registry_id: str | None = None
    replayed: bool = False
    problem: dict[str, Any] | None = None

    @property
    def accepted(self) -> bool:
        return self.status in (200, 201, 409)


class RegistryAccessDenied(RegistryError):
    """401/403, or the token request failed: the connection (client id, secret, tenants) is wrong.

    Not a property of any one certificate, so nothing is dead-lettered; the task fails loudly.
    """

    def __init__(self, message: str, attempts: list[Attempt], status: int) -> None:
        super().__init__(message, attempts)
        self.status = status


class RegistryRejected(RegistryError):
    """A final 4xx answer: the request itself is wrong and retrying cannot help."""

    def __init__(self, message: str, attempts: list[Attempt], status: int, body: Any) -> None:
        super().__init__(message, attempts)
        self.status = status
        self.body = body


@dataclass
class _Response:
    status: int
    body: Any
    headers: dict[str, str]
    attempts: list[Attempt]


class RegistryClient:
    """Talks to one registry as one OAuth client. Thread-safe (the token cache is locked)."""

    def __init__(
        self,
        target: RegistryTarget,
        settings: RegistrySettings | None = None,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.target = target
        self.settings = settings or RegistrySettings()
        self.session = session or self._new_session()
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._token: str | None = None
        self._token_expires_at = 0.0
        self._token_lock = threading.Lock()

    @staticmethod
    def _new_session() -> requests.Session:
        session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    @property
    def retry(self) -> RetryPolicy:
        return self.settings.retry

    # -- authentication -------------------------------------------------------------

    def access_token(self) -> str:
        """A valid bearer token, fetched again shortly before the cached one expires."""
        with self._token_lock:
            if self._token and time.monotonic() < self._token_expires_at:
                return self._token
            answer = self._exchange(
                "POST", "/oauth/token", authenticated=False,
                data={"grant_type": "client_credentials", "scope": WRITE_SCOPES},
                auth=(self.target.client_id, self.target.client_secret),
            )
            if answer.status != 200 or not isinstance(answer.body, dict) or "access_token" not in answer.body:
                raise RegistryAccessDenied(
                    f"registry token request for client {self.target.client_id!r} failed with "
                    f"{answer.status}: {short(answer.body)}", answer.attempts, answer.status)
            ttl = float(answer.body.get("expires_in", 60))
            margin = min(self.settings.token_refresh_margin_seconds, ttl / 2)
            self._token = str(answer.body["access_token"])
            self._token_expires_at = time.monotonic() + ttl - margin
            return self._token

    def _invalidate_token(self, token: str) -> None:
        with self._token_lock:
            if self._token == token:
                self._token = None

    # -- operations -----------------------------------------------------------------

    def create_batch(self, items: list[tuple[str, dict[str, Any]]]) -> tuple[list[ItemOutcome], list[Attempt]]:
        """Register up to 100 certificates, each under its own idempotency key.

        Raises RegistryRejected when the registry refuses the whole batch (a
        malformed item); the caller then sends the items one by one to find it.
        """
        body = {"items": [{"idempotency_key": key, "certificate": cert} for key, cert in items]}
        answer = self._call("POST", "/v1/certificates/batch", json=body)
        results = answer.body.get("results") if isinstance(answer.body, dict) else None
        if not isinstance(results, list) or len(results) != len(items):
            raise RegistryUnavailable(
                f"registry batch answer has {len(results or [])} results for {len(items)} items",
                answer.attempts)
        outcomes = []
        for (key, _cert), result in zip(items, sorted(results, key=lambda r: r.get("index", 0)), strict=True):
            status = int(result.get("status", 0))
            outcomes.append(ItemOutcome(
                idempotency_key=key,
                status=status,
                registry_id=_registry_id(status, result.get("certificate"), result),
                replayed=status == 200,
                problem=result.get("problem"),
            ))
        return outcomes, answer.attempts

    def create(self, key: str, certificate: dict[str, Any]) -> tuple[ItemOutcome, list[Attempt]]:
        """Register one certificate; a final 4xx comes back as an outcome, not an exception."""
        try:
            answer = self._call("POST", "/v1/certificates", json=certificate, headers={"Idempotency-Key": key})
        except RegistryRejected as exc:
            return ItemOutcome(key, exc.status, problem=_problem(exc.body)), exc.attempts
        replayed = answer.headers.get("idempotent-replayed", "").lower() == "true"
        registry_id = _registry_id(answer.status, answer.body, answer.body)
        return ItemOutcome(key, answer.status, registry_id, replayed=replayed), answer.attempts

    def revoke(self, key: str, registry_id: str, reason: str) -> tuple[ItemOutcome, list[Attempt]]:
        """Revoke a certificate; the registry makes repeats no-ops, and the key rides along for its logs."""
        path = f"/v1/certificates/{requests.utils.quote(registry_id, safe='')}/revoke"
        try:
            answer = self._call("POST", path, json={"reason": reason[:500]}, headers={"Idempotency-Key": key})
        except RegistryRejected as exc:
            return ItemOutcome(key, exc.status, registry_id, problem=_problem(exc.body)), exc.attempts
        return ItemOutcome(key, answer.status, registry_id), answer.attempts

    def get_certificate(self, registry_id: str) -> dict[str, Any] | None:
        try:
            answer = self._call("GET", f"/v1/certificates/{requests.utils.quote(registry_id, safe='')}")
        except RegistryRejected as exc:
            if exc.status == 404:
                return None
            raise
        return answer.body

    def list_certificates(self, tenant_id: str, *, updated_since: str | None = None,
                          limit: int = 500) -> Iterator[dict[str, Any]]:
        """Every certificate of ``tenant_id`` (following ``next_cursor``), oldest update first.

        The next page is fetched while the caller works through the current one, so
        the registry's time and ours overlap instead of adding up.
        """
        from concurrent.futures import ThreadPoolExecutor

        def fetch(cursor: str | None) -> dict[str, Any]:
            params: dict[str, Any] = {"tenant_id": tenant_id, "limit": limit}
            if updated_since:
                params["updated_since"] = updated_since
            if cursor:
                params["cursor"] = cursor
            return self._call("GET", "/v1/certificates", params=params).body

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="registry-listing") as pool:
            pending = pool.submit(fetch, None)
            while True:
                page = pending.result()
                cursor = page.get("next_cursor")
                if cursor:
                    pending = pool.submit(fetch, cursor)
                yield from page["data"]
                if not cursor:
                    return

    # -- plumbing -------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> _Response:
        """An authenticated call with retries; 2xx and 409 return, other 4xx raise RegistryRejected."""
        attempts: list[Attempt] = []
        refreshed = False
        while True:
            token = self.access_token()
            headers = {**kwargs.pop("headers", {}), "Authorization": f"Bearer {token}"}
            answer = self._exchange(method, path, headers=headers, **kwargs)
            kwargs["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
            attempts.extend(answer.attempts)
            answer.attempts = attempts
            if answer.status == 401 and not refreshed:
                # Revoked or expired early: one fresh token, then a 401 is final.
                refreshed = True
                self._invalidate_token(token)
                continue
            if answer.status < 400 or answer.status == 409:
                return answer
            if answer.status in (401, 403):
                raise RegistryAccessDenied(
                    f"registry {method} {path} refused client {self.target.client_id!r} with "
                    f"{answer.status}: {short(answer.body)}", attempts, answer.status)
            raise RegistryRejected(
                f"registry {method} {path} rejected with {answer.status}: {short(answer.body)}",
                attempts, answer.status, answer.body)

    def _exchange(self, method: str, path: str, *, authenticated: bool = True,
                  **kwargs: Any) -> _Response:
        """One logical request, retried on 429/5xx/timeouts/resets (see :func:`send_with_retry`)."""
        del authenticated  # documents intent at call sites; auth is in the headers already
        answer = send_with_retry(
            self.session, method, self.target.base_url.rstrip("/") + path, path=path, policy=self.retry,
            timeout=(self.settings.connect_timeout_seconds, self.settings.timeout_seconds),
            sleep=self._sleep, rng=self._rng, service="registry", **kwargs)
        return _Response(answer.status, answer.body, answer.headers, answer.attempts)


def _problem(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {"detail": short(body)}


def _registry_id(status: int, certificate: Any, problem: Any) -> str | None:
    if status == 409 and isinstance(problem, dict):
        return problem.get("certificate_id")
    if isinstance(certificate, dict):
        return certificate.get("id")
    return None
