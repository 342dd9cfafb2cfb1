"""Talent marketplace (contract: docs/marketplace.md, sandbox/marketplace/openapi.yaml): client and hook.

Connection (one per tenant, e.g. ``marketplace_acme``; conn_type http; URL fields read by
:mod:`credsync.hooks.base`): ``login`` / ``password`` = the tenant's OAuth client id and secret;
extras ``signing_secret`` (HMAC key of the signed events, never sent as a header), ``scopes`` (the
scope of each flow, default :data:`FLOW_SCOPES`: a token only ever carries what its flow needs),
``token_url`` (default ``/oauth/token``), ``revoke_url`` (default ``/oauth/revoke``).

On the shared layer (:mod:`credsync.hooks.transport`): its retries (5xx, resets, lost answers),
Retry-After on 429, URL building and its one re-request of a token on a 401 ``invalid_token``.
What the marketplace adds is here:

- **Refresh-token rotation** (:class:`RotatingClientCredentials`): an expired access token is renewed
  with the refresh token, whose successor replaces it (the old one is spent); a refused refresh
  (``invalid_grant``: spent, or the family revoked) falls back to the client credentials. Every
  issue and revocation is kept as a :class:`TokenEvent` (fingerprint, never the token) for the
  audit chain (:func:`credsync.marketplace.ledger.audit_tokens`).
- **Idempotency keys** on every write, given by the caller and derived from the record (a retry or a
  rerun sends the same key; the marketplace replays its first answer).
- **Signed events**: ``X-Marketplace-Timestamp`` and ``X-Marketplace-Signature: v1=<hex HMAC-SHA256
  (signing_secret, "<t>.<body>")>``, signed once per call (the retries of one call resend the same
  bytes and stamp, well inside the ±300 s window); a stale stamp (401 ``replayed`` after a long
  wait) is signed again once, with the event id as before.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from requests.auth import HTTPBasicAuth

from credsync.hooks.base import ConnectionConfigError, CredsyncHttpHook
from credsync.hooks.transport import (
    AccessDenied,
    Answer,
    Attempt,
    Endpoint,
    HttpClient,
    OAuth2ClientCredentials,
    ServiceUnavailable,
    short,
)
from credsync.ingest.signed_webhooks import sign

#: The scope each flow asks for (contract: "Scopes"); extra ``scopes`` overrides per flow.
FLOW_SCOPES = {
    "bulk": "admin:bulk",
    "members": "write:members",
    "events": "write:learning write:badge",
    "reconcile": "read:members read:activity:aggregate",
}
TIMESTAMP_HEADER = "X-Marketplace-Timestamp"
SIGNATURE_HEADER = "X-Marketplace-Signature"


@dataclass(frozen=True)
class TokenEvent:
    """A token issued or revoked: what the audit chain records (the token's fingerprint, not the token)."""

    kind: str  # issued | refreshed | refresh_refused | revoked
    client_id: str
    scope: str | None
    fingerprint: str
    at: float


def fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:16]


class _Capture:
    """Passes calls to a client and keeps the last answer's body (the token answer's refresh token)."""

    def __init__(self, client: HttpClient) -> None:
        self.client, self.body = client, None

    def call(self, *args: Any, **kwargs: Any) -> Answer:
        answer = self.client.call(*args, **kwargs)
        self.body = answer.body
        return answer


class RotatingClientCredentials(OAuth2ClientCredentials):
    """Client credentials plus refresh-token rotation (RFC 6749 §6) and a record of every token."""

    def __init__(self, token_url: str, client_id: str, client_secret: str, *, scope: str | None = None,
                 refresh_margin_seconds: float = 30.0, revoke_url: str | None = None) -> None:
        super().__init__(token_url, client_id, client_secret, scope=scope,
                         refresh_margin_seconds=refresh_margin_seconds)
        self.revoke_url = revoke_url or token_url.rsplit("/", 1)[0] + "/revoke"
        self._refresh: str | None = None
        self._rotation = threading.Lock()
        self.events: list[TokenEvent] = []

    def token(self, client: HttpClient) -> str:
        with self._rotation:
            if self._token and time.monotonic() < self._expires_at:
                return self._token
            if self._refresh and self._use_refresh(client):
                return str(self._token)
            capture = _Capture(client)
            token = super().token(capture)  # type: ignore[arg-type]
            body = capture.body if isinstance(capture.body, dict) else {}
            self._refresh = body.get("refresh_token")
            self._note("issued", token)
            return token

    def _use_refresh(self, client: HttpClient) -> bool:
        """Renew with the refresh token; False (and the refresh token forgotten) when it is refused."""
        spent, self._refresh = self._refresh, None
        answer = client.call("POST", self.token_url, data={"grant_type": "refresh_token", "refresh_token": spent},
                             auth=HTTPBasicAuth(self.client_id, self._secret))
        body = answer.body if isinstance(answer.body, dict) else {}
        if answer.status != 200 or "access_token" not in body:
            # Spent or revoked (reuse detection revokes the family): start over with the credentials.
            self._note("refresh_refused", str(spent), detail=body.get("code") or body.get("error"))
            return False
        ttl = float(body.get("expires_in", 60))
        self._token, self._refresh = str(body["access_token"]), body.get("refresh_token")
        self._expires_at = time.monotonic() + ttl - min(self.refresh_margin_seconds, ttl / 2)
        self._note("refreshed", self._token)
        return True

    def revoke(self, client: HttpClient) -> int:
        """Revoke the refresh token and the access token held (RFC 7009); returns how many were revoked."""
        with self._rotation:
            held = [t for t in (self._refresh, self._token) if t]
            for token in held:
                client.call("POST", self.revoke_url, data={"token": token},
                            auth=HTTPBasicAuth(self.client_id, self._secret))
                self._note("revoked", token)
            self._token = self._refresh = None
            return len(held)

    def _note(self, kind: str, token: str, detail: Any = None) -> None:
        scope = self.scope if detail is None else f"{self.scope} ({detail})"
        self.events.append(TokenEvent(kind, self.client_id, scope, fingerprint(token), time.time()))

    def drain(self) -> list[TokenEvent]:
        events, self.events = self.events, []
        return events


@dataclass(frozen=True)
class WriteOutcome:
    """A write's final answer: ``status``, the problem ``code`` of a refusal, whether it was a replay."""

    status: int
    body: Any
    attempts: list[Attempt]
    replayed: bool = False

    @property
    def code(self) -> str | None:
        return self.body.get("code") if isinstance(self.body, dict) else None

    @property
    def accepted(self) -> bool:
        return 200 <= self.status < 300


class MarketplaceClient:
    """One tenant's OAuth client for one flow (its scopes); ``signing_secret`` signs events."""

    def __init__(self, http: HttpClient, signing_secret: str | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        if not isinstance(http.endpoint.auth, RotatingClientCredentials):
            raise ValueError("the marketplace client needs RotatingClientCredentials on its endpoint")
        self.http = http
        self.auth: RotatingClientCredentials = http.endpoint.auth
        self._secret = signing_secret
        self.clock = clock

    def __repr__(self) -> str:
        return f"MarketplaceClient({self.http.endpoint.base_url}, client {self.auth.client_id!r})"

    @classmethod
    def for_url(cls, base_url: str, client_id: str, client_secret: str, *, scope: str | None,
                signing_secret: str | None = None, token_refresh_margin_seconds: float = 30.0,
                **kwargs: Any) -> MarketplaceClient:
        """A client without an Airflow Connection (tests); ``kwargs`` as for :meth:`HttpClient.for_url`."""
        base = base_url.rstrip("/")
        auth = RotatingClientCredentials(f"{base}/oauth/token", client_id, client_secret, scope=scope,
                                         refresh_margin_seconds=token_refresh_margin_seconds)
        return cls(HttpClient.for_url(base, auth=auth, service="marketplace", **kwargs), signing_secret)

    # -- writes ------------------------------------------------------------------------

    def put_member(self, member: dict[str, Any], idempotency_key: str) -> WriteOutcome:
        from requests.utils import quote

        return self._write("PUT", f"/v1/members/{quote(str(member['member_id']), safe='')}",
                           data=_json_bytes(member), key=idempotency_key)

    def post_event(self, event: dict[str, Any]) -> WriteOutcome:
        """POST one signed event under its event id; 202 accepted, 200 duplicate, 4xx refused."""
        if not self._secret:
            raise ConnectionConfigError("the marketplace signing secret is empty (extra signing_secret)")
        body = _json_bytes(event)
        outcome = self._write("POST", "/v1/events", data=body, key=str(event["event_id"]), signed=True)
        if outcome.status == 401 and outcome.code == "replayed":
            # The stamp aged past the window while the call waited (429s, back-off): sign it again now.
            outcome = self._write("POST", "/v1/events", data=body, key=str(event["event_id"]), signed=True)
        return outcome

    def bulk_import(self, data: bytes, checksum: str, idempotency_key: str, *, gzip: bool = False,
                    content_type: str = "application/x-ndjson") -> WriteOutcome:
        headers = {"X-Checksum-SHA256": checksum, **({"Content-Encoding": "gzip"} if gzip else {})}
        return self._write("POST", "/v1/bulk/imports", data=data, key=idempotency_key, content_type=content_type,
                           headers=headers)

    def get_import(self, import_id: str) -> dict[str, Any]:
        from requests.utils import quote

        return self._read(f"/v1/bulk/imports/{quote(import_id, safe='')}")

    # -- listings ----------------------------------------------------------------------

    def members(self, *, limit: int = 200) -> Iterator[dict[str, Any]]:
        return self._pages("/v1/members", limit=limit)

    def learning_records(self, *, limit: int = 200, updated_since: str | None = None) -> Iterator[dict[str, Any]]:
        return self._pages("/v1/learning-records", limit=limit, updated_since=updated_since)

    def badges(self, *, limit: int = 200, updated_since: str | None = None) -> Iterator[dict[str, Any]]:
        return self._pages("/v1/badges", limit=limit, updated_since=updated_since)

    def revoke_tokens(self) -> int:
        return self.auth.revoke(self.http)

    # -- plumbing ----------------------------------------------------------------------

    def _pages(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            query = {k: v for k, v in {**params, "cursor": cursor}.items() if v is not None}
            page = self._read(path, params=query)
            yield from page.get("data") or []
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def _read(self, path: str, **kwargs: Any) -> dict[str, Any]:
        answer = self.http.request("GET", path, **kwargs)
        body = answer.json()
        if not isinstance(body, dict):
            raise ServiceUnavailable(f"marketplace GET {answer.url}: not a JSON object: {short(body)}",
                                     answer.attempts, answer.status, body)
        return body

    def _write(self, method: str, path: str, *, data: bytes, key: str, signed: bool = False,
               content_type: str = "application/json", headers: dict[str, str] | None = None) -> WriteOutcome:
        sent = {"Content-Type": content_type, "Idempotency-Key": key, **(headers or {})}
        if signed:
            stamp = int(self.clock())
            sent[TIMESTAMP_HEADER] = str(stamp)
            sent[SIGNATURE_HEADER] = sign(str(self._secret), data, stamp).split(",", 1)[1]  # "v1=<hex>"
        answer = self.http.call(method, path, data=data, headers=sent)
        if answer.status == 403 or (answer.status == 401 and _code(answer.body) != "replayed"):
            # The token, its scope or the signing secret: no single record's fault, so nothing is
            # dead-lettered; the task fails loudly and the events stay 'sent' for the run after the fix.
            raise AccessDenied(f"marketplace {method} {answer.url}: HTTP {answer.status}: {short(answer.body)}",
                               answer.attempts, answer.status, answer.body)
        replayed = answer.headers.get("idempotent-replayed", "").lower() == "true"
        return WriteOutcome(answer.status, answer.body, answer.attempts, replayed)


def _code(body: Any) -> str | None:
    return body.get("code") if isinstance(body, dict) else None


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


class MarketplaceHook(CredsyncHttpHook):
    """Builds a :class:`MarketplaceClient` for one flow from the tenant's marketplace Connection."""

    conn_name_attr = "marketplace_conn_id"
    default_conn_name = "marketplace_default"
    hook_name = "credsync talent marketplace"
    default_auth = "oauth2"
    default_headers = {"Accept": "application/json"}
    service = "marketplace"
    own_extras = frozenset({"signing_secret", "webhook_secret", "scopes", "revoke_url"})

    def __init__(self, marketplace_conn_id: str = default_conn_name, tenant_id: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(marketplace_conn_id, tenant_id, **kwargs)
        self.marketplace_conn_id = marketplace_conn_id

    def flow_scope(self, flow: str) -> str:
        scopes = self.extras.get("scopes") or {}
        if not isinstance(scopes, dict):
            raise ConnectionConfigError(f"{self._where('scopes')}: must map flows to scopes, e.g. "
                                        f"{json.dumps(FLOW_SCOPES)}")
        if flow not in FLOW_SCOPES:
            raise ValueError(f"unknown marketplace flow {flow!r} (known: {', '.join(FLOW_SCOPES)})")
        return str(scopes.get(flow) or FLOW_SCOPES[flow])

    def client(self, flow: str, **client_kwargs: Any) -> MarketplaceClient:
        """A client whose tokens carry ``flow``'s scopes only (bulk, members, events, reconcile)."""
        base = self.http_client(**client_kwargs)  # residency, URL, TLS, timeouts, retry policy
        plain = base.endpoint.auth
        assert isinstance(plain, OAuth2ClientCredentials)
        revoke = self.extras.get("revoke_url")
        auth = RotatingClientCredentials(plain.token_url, self.connection.login, self.connection.password,
                                         scope=self.flow_scope(flow),
                                         refresh_margin_seconds=plain.refresh_margin_seconds,
                                         revoke_url=Endpoint(base.endpoint.base_url).url(revoke) if revoke else None)
        endpoint = Endpoint(base.endpoint.base_url, auth=auth, headers=base.endpoint.headers,
                            timeouts=base.endpoint.timeouts, policy=base.endpoint.policy,
                            verify=base.endpoint.verify, cert=base.endpoint.cert, service=self.service)
        secret = self.extras.get("signing_secret")
        if flow == "events" and (not isinstance(secret, str) or not secret):
            raise ConnectionConfigError(f"{self._where('signing_secret')}: required to sign marketplace events")
        return MarketplaceClient(HttpClient(endpoint, session=base.session), secret if flow == "events" else None)


__all__ = ["FLOW_SCOPES", "MarketplaceClient", "MarketplaceHook", "RotatingClientCredentials", "TokenEvent",
           "WriteOutcome", "fingerprint"]
