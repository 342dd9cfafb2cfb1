"""The national credential registry (contract: sandbox/registry/openapi.yaml): RegistryClient and RegistryHook.

Connection (default id ``registry_national``, conn_type http; fields read by
:mod:`credsync.hooks.base`): the base URL (``host`` as a full URL or host + ``schema`` +
``port``), ``login`` = OAuth client_id, ``password`` = client_secret; extras ``token_url``
(default ``/oauth/token``), ``scope`` (default ``certificates:read certificates:write``),
``token_refresh_margin_seconds``; for registry notifications (:mod:`credsync.delivery.notifications`)
``notification_secret`` (signs what credsync sends) and ``webhook_secret`` (verifies what the registry
sends back), never sent as headers. Throughput across tenants is shared through the Airflow pool
``registry_api`` on the tasks that use this hook, not inside the hook.

:class:`RegistryClient` is the plain part (tests and benchmarks build it from a URL with
:meth:`RegistryClient.for_url`); the OAuth2 token cache, retries and attempt records are the
layer's (:mod:`credsync.hooks.transport`):

- Every write carries the caller's deterministic ``Idempotency-Key``, so a retry after a timeout
  or a connection reset mid-response is harmless: the registry replays its stored answer.
- 2xx and 409 (already there) are answers; other 4xx are final: :class:`RegistryRejected`
  carries the problem body; 401/403 raise :class:`RegistryAccessDenied`.
- Each HTTP exchange is reported as an :class:`Attempt` so the caller can record it in
  core.registry_attempts.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from credsync.hooks.base import CredsyncHttpHook
from credsync.hooks.policy import RetryPolicy
from credsync.hooks.transport import (
    AccessDenied,
    Answer,
    Attempt,
    HttpClient,
    OAuth2ClientCredentials,
    Rejected,
    ServiceError,
    ServiceUnavailable,
    short,
)

# The layer's errors under the names the delivery code and its runbook use.
RegistryError = ServiceError
RegistryUnavailable = ServiceUnavailable
RegistryRejected = Rejected
RegistryAccessDenied = AccessDenied

__all__ = [
    "Attempt",
    "ItemOutcome",
    "RegistryAccessDenied",
    "RegistryClient",
    "RegistryError",
    "RegistryHook",
    "RegistryRejected",
    "RegistryUnavailable",
]

WRITE_SCOPES = "certificates:read certificates:write"


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


class RegistryClient:
    """Talks to one registry as one OAuth client. Thread-safe (the token cache is locked)."""

    def __init__(self, http: HttpClient) -> None:
        if not isinstance(http.endpoint.auth, OAuth2ClientCredentials):
            raise ValueError("the registry client needs OAuth2 client credentials on its endpoint")
        self.http = http
        self.auth: OAuth2ClientCredentials = http.endpoint.auth

    @classmethod
    def for_url(cls, base_url: str, client_id: str, client_secret: str, *,
                token_refresh_margin_seconds: float = 30.0, **kwargs: Any) -> RegistryClient:
        """A client for the registry at ``base_url`` (no Airflow Connection: tests, benchmarks);
        ``kwargs`` as for :meth:`HttpClient.for_url` (``policy``, ``timeouts``, ``sleep``, ...)."""
        auth = OAuth2ClientCredentials(base_url.rstrip("/") + "/oauth/token", client_id, client_secret,
                                       scope=WRITE_SCOPES, refresh_margin_seconds=token_refresh_margin_seconds)
        kwargs.setdefault("session", _pooled_session())
        return cls(HttpClient.for_url(base_url.rstrip("/"), auth=auth, service="registry", **kwargs))

    @property
    def retry(self) -> RetryPolicy:
        return self.http.policy

    def access_token(self) -> str:
        """A valid bearer token, fetched again shortly before the cached one expires."""
        return self.auth.token(self.http)

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

    def _call(self, method: str, path: str, **kwargs: Any) -> Answer:
        """An authenticated call with retries; 2xx and 409 return, other 4xx raise RegistryRejected."""
        return self.http.request(method, path, expect=(*range(200, 300), 409), **kwargs)


def _pooled_session() -> requests.Session:
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _problem(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {"detail": short(body)}


def _registry_id(status: int, certificate: Any, problem: Any) -> str | None:
    if status == 409 and isinstance(problem, dict):
        return problem.get("certificate_id")
    if isinstance(certificate, dict):
        return certificate.get("id")
    return None


class RegistryHook(CredsyncHttpHook):
    """Builds a :class:`RegistryClient` (OAuth2, idempotency keys, retries) from the connection."""

    conn_name_attr = "registry_conn_id"
    default_conn_name = "registry_national"
    hook_name = "National credential registry"
    default_auth = "oauth2"
    default_scope = WRITE_SCOPES
    service = "registry"
    own_extras = frozenset({"notification_secret", "webhook_secret"})

    def __init__(self, registry_conn_id: str = default_conn_name, tenant_id: str | None = None,
                 **kwargs: Any) -> None:
        kwargs.setdefault("method", "POST")
        # The registry is shared; tenant_id says whose data a client sends (residency, credsync.governance).
        super().__init__(registry_conn_id, tenant_id, **kwargs)
        self.registry_conn_id = registry_conn_id

    def get_client(self, **client_kwargs: Any) -> RegistryClient:
        return RegistryClient(self.http_client(**client_kwargs))

    def notification_client(self, **client_kwargs: Any) -> Any:
        """A :class:`credsync.hooks.notifications.NotificationClient` on this connection (same OAuth
        client, retries and residency check as the pushes), signing with extra ``notification_secret``."""
        from credsync.hooks.notifications import NotificationClient

        secret = self.extras.get("notification_secret")
        if not isinstance(secret, str) or not secret:
            from credsync.hooks.base import ConnectionConfigError

            raise ConnectionConfigError(f"{self._where('notification_secret')}: required to sign registry "
                                        "notifications")
        return NotificationClient(self.http_client(**client_kwargs), secret)
