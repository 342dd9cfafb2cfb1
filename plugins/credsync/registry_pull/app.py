"""The pull endpoint's FastAPI app, mounted in the api-server at ``/credsync-registry``.

Routes:

- ``POST oauth/token`` — client credentials grant (RFC 6749 §4.4); client authentication by HTTP
  Basic or ``client_id``/``client_secret`` form fields; RFC 6749 §5.2 error bodies.
- ``GET v1/tenants/{tenant}/learners[?limit=&cursor=]`` — a page of learners with credentials
  (status included) and training records, ``next_cursor`` plus a ``Link: rel="next"`` header.
- ``GET v1/tenants/{tenant}/learners/{learner_id}`` — one learner.

Not behind the Airflow login: a registry is not an Airflow user. Every read is appended to the
tenant's audit chain (client, what was returned); a request for a tenant the client may not read
is refused with 403 and audited the same way. Each client has a request budget per minute (429
with ``Retry-After``), kept per api-server process.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from credsync.registry_pull import records, tokens
from credsync.registry_pull.clients import PullClient, PullSettings

URL_PREFIX = "/credsync-registry"
PROBLEM = "application/problem+json"
log = logging.getLogger(__name__)


class _Refusal(Exception):
    def __init__(self, status: int, title: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers or {}


def create_app(*, settings: Callable[[], PullSettings] | None = None,
               warehouse_url: Callable[[], str] | None = None) -> FastAPI:
    """The app; both callables default to the Connections (``credsync_registry_pull``, ``credsync_warehouse``)."""
    from limits import RateLimitItemPerMinute
    from limits.storage import MemoryStorage
    from limits.strategies import MovingWindowRateLimiter

    get_settings = settings or _settings_from_connection
    get_url = warehouse_url or _warehouse_url
    limiter = MovingWindowRateLimiter(MemoryStorage())
    app = FastAPI(title="credsync registry pull", docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(_Refusal)
    def refused(_request: Request, exc: _Refusal) -> JSONResponse:
        return JSONResponse({"type": "about:blank", "title": exc.title, "status": exc.status, "detail": exc.detail},
                            status_code=exc.status, headers=exc.headers, media_type=PROBLEM)

    @app.post("/oauth/token")
    async def token(request: Request) -> JSONResponse:
        config = get_settings()
        form = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
            return _oauth_error(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        if form.get("grant_type") != ["client_credentials"]:
            return _oauth_error(400, "unsupported_grant_type", "only grant_type=client_credentials is supported")
        client_id, secret = _client_credentials(request.headers.get("authorization"), form)
        client = config.clients.get(client_id or "")
        if client is None or secret is None or not client.secret_matches(secret):
            log.warning("registry pull: token refused for client %r (unknown client or wrong secret)", client_id)
            return _oauth_error(401, "invalid_client", "client authentication failed",
                                {"WWW-Authenticate": 'Basic realm="credsync-registry"'})
        requested = form.get("scope", [tokens.SCOPE])[0].split()
        if any(scope != tokens.SCOPE for scope in requested):
            return _oauth_error(400, "invalid_scope", f"the only scope is {tokens.SCOPE}")
        log.info("registry pull: token issued to client %r for tenants %s", client.client_id, sorted(client.tenants))
        return JSONResponse(tokens.issue(config, client), headers={"Cache-Control": "no-store"})

    def grant_for(request: Request, tenant: str) -> tuple[PullSettings, PullClient]:
        config = get_settings()
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _Refusal(401, "Unauthorized", "a Bearer access token from oauth/token is required",
                           {"WWW-Authenticate": 'Bearer realm="credsync-registry"'})
        try:
            grant = tokens.verify(config, value.strip())
        except tokens.InvalidToken as exc:
            raise _Refusal(401, "Unauthorized", str(exc),
                           {"WWW-Authenticate": 'Bearer realm="credsync-registry", error="invalid_token"'}) from None
        client = config.clients[grant.client_id]
        item = RateLimitItemPerMinute(client.requests_per_minute)
        if not limiter.hit(item, client.client_id):
            reset, _ = limiter.get_window_stats(item, client.client_id)
            wait = max(1, math.ceil(reset - time.time()))
            raise _Refusal(429, "Too Many Requests",
                           f"client {client.client_id!r} is over its {client.requests_per_minute} requests a minute",
                           {"Retry-After": str(wait)})
        if tenant not in grant.tenants:
            if tenant in _configured_tenants():  # a made-up tenant id gets no audit chain of its own
                from credsync.warehouse import connect

                with connect(get_url()) as conn:
                    _audit(conn, tenant, "registry_pull_refused", "tenant", tenant,
                           {"client_id": client.client_id, "path": request.url.path})
            log.warning("registry pull: client %r refused tenant %r", client.client_id, tenant)
            # One answer for "no such tenant" and "not yours": a client learns nothing about other tenants.
            raise _Refusal(403, "Forbidden", f"client {client.client_id!r} may not read tenant {tenant!r}")
        return config, client

    @app.get("/v1/tenants/{tenant}/learners")
    def learners(request: Request, tenant: str, limit: int = Query(50, ge=1, le=records.MAX_PAGE),
                 cursor: str | None = Query(None, max_length=512)) -> JSONResponse:
        _, client = grant_for(request, tenant)
        from credsync.warehouse import connect

        with connect(get_url()) as conn:
            try:
                page = records.learners_page(conn, tenant, cursor=cursor, limit=limit)
            except records.BadCursor as exc:
                raise _Refusal(400, "Bad Request", str(exc)) from None
            _audit(conn, tenant, "registry_pull", "learners_page", cursor or "first", _read(client, page))
        headers = {"Cache-Control": "no-store"}
        if page.next_cursor:
            headers["Link"] = f'<{request.url.path}?limit={limit}&cursor={page.next_cursor}>; rel="next"'
        return JSONResponse({"tenant_id": tenant, "learners": page.learners, "next_cursor": page.next_cursor,
                             "withheld": page.withheld}, headers=headers)

    @app.get("/v1/tenants/{tenant}/learners/{learner_id}")
    def learner(request: Request, tenant: str, learner_id: str) -> JSONResponse:
        _, client = grant_for(request, tenant)
        from credsync.warehouse import connect

        with connect(get_url()) as conn:
            page = records.learner_records(conn, tenant, [learner_id])
            _audit(conn, tenant, "registry_pull", "learner", learner_id, _read(client, page))
        if not page.learners:
            raise _Refusal(404, "Not Found", f"tenant {tenant!r} has no credentials for learner {learner_id!r}")
        return JSONResponse({"tenant_id": tenant, **page.learners[0], "withheld": page.withheld},
                            headers={"Cache-Control": "no-store"})

    return app


def _client_credentials(authorization: str | None, form: dict[str, list[str]]) -> tuple[str | None, str | None]:
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() == "basic":
        try:
            client_id, _, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        return client_id, secret
    return (form.get("client_id") or [None])[0], (form.get("client_secret") or [None])[0]


def _oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status,
                        headers={"Cache-Control": "no-store", **(headers or {})})


def _read(client: PullClient, page: records.LearnerPage) -> dict[str, Any]:
    """What the audit chain records of one read: who, and how much left."""
    return {"client_id": client.client_id, "learners": len(page.learners), "credentials": page.credentials,
            "withheld": page.withheld}


def _audit(conn: Any, tenant: str, event_type: str, entity_type: str, entity_key: str,
           detail: dict[str, Any]) -> None:
    """Append one event to the tenant's chain on ``conn`` (the request's own connection) and commit."""
    from credsync.audit.chain import append_event

    append_event(conn, tenant_id=tenant, event_type=event_type, entity_type=entity_type,
                 entity_key=entity_key, detail=detail)
    conn.commit()


def _configured_tenants() -> set[str]:
    from credsync.tenants import load_tenants

    return {t.tenant_id for t in load_tenants(enabled_only=False)}


def _settings_from_connection() -> PullSettings:
    from credsync.registry_pull.clients import settings_from_connection

    return settings_from_connection()


def _warehouse_url() -> str:
    from credsync.warehouse import url_from_connection

    return url_from_connection()
