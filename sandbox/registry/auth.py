"""OAuth 2.0 client-credentials tokens and the bearer checks in front of ``/v1``.

The token endpoint answers RFC 6749 section 5.2 errors (``{"error": ...}``) because
that is what OAuth client libraries parse; everything else speaks problem+json.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote_plus

from sandbox.registry.config import Client, RegistrySettings
from sandbox.registry.problems import ProblemError
from sandbox.registry.ratelimit import TokenBuckets
from sandbox.registry.store import RegistryStore, TokenGrant

BEARER_CHALLENGE = 'Bearer realm="registry"'


class OAuthError(Exception):
    """An RFC 6749 error answer from the token endpoint."""

    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.body = {"error": error, "error_description": description}
        self.headers = headers or {}


@dataclass(frozen=True)
class Principal:
    """The client behind a valid bearer token and the scopes that token carries."""

    client: Client
    scopes: frozenset[str]


class Authority:
    """Issues tokens and turns ``Authorization`` headers into :class:`Principal` objects."""

    def __init__(self, settings: RegistrySettings, store: RegistryStore) -> None:
        self.settings = settings
        self.store = store
        self.buckets = TokenBuckets(settings.rate_per_second, settings.burst)

    def issue_token(self, content_type: str, body: bytes, authorization: str | None) -> dict[str, object]:
        """Handle a client-credentials token request; raises :class:`OAuthError`."""
        if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            raise OAuthError(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        try:
            form = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise OAuthError(400, "invalid_request", "the form body cannot be parsed") from None
        repeated = sorted(name for name, values in form.items() if len(values) > 1)
        if repeated:
            raise OAuthError(400, "invalid_request", f"parameters must not repeat: {repeated}")
        params = {name: values[0] for name, values in form.items()}

        grant_type = params.get("grant_type")
        if not grant_type:
            raise OAuthError(400, "invalid_request", "grant_type is required")
        if grant_type != "client_credentials":
            raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")

        client = self._authenticate_client(params, authorization)
        requested = params.get("scope")
        scopes = frozenset(requested.split()) if requested and requested.strip() else client.scopes
        if not scopes <= client.scopes:
            raise OAuthError(
                400,
                "invalid_scope",
                f"client {client.client_id!r} may not request {sorted(scopes - client.scopes)}",
            )

        token = secrets.token_urlsafe(32)
        ttl = self.settings.token_ttl_seconds
        self.store.save_token(token, TokenGrant(client.client_id, scopes, time.time() + ttl))
        return {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ttl,
            "scope": " ".join(sorted(scopes)),
        }

    def _authenticate_client(self, params: dict[str, str], authorization: str | None) -> Client:
        basic = authorization is not None and authorization[:6].lower() == "basic "
        if basic and ("client_id" in params or "client_secret" in params):
            raise OAuthError(400, "invalid_request", "use either HTTP Basic or form credentials, not both")
        if basic:
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
                raw_id, raw_secret = decoded.split(":", 1)
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise OAuthError(
                    401,
                    "invalid_client",
                    "malformed Basic credentials",
                    {"WWW-Authenticate": 'Basic realm="registry"'},
                ) from None
            # RFC 6749 2.3.1: Basic credentials are form-urlencoded before base64.
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        else:
            client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
            if not client_id:
                raise OAuthError(401, "invalid_client", "client authentication is required")
        client = self.settings.clients.get(client_id)
        if client is None or not hmac.compare_digest(client.secret.encode(), secret.encode()):
            headers = {"WWW-Authenticate": 'Basic realm="registry"'} if basic else None
            raise OAuthError(401, "invalid_client", "unknown client or wrong secret", headers)
        return client

    def principal(self, authorization: str | None) -> Principal:
        """Check the bearer token, then the client's rate limit; raises :class:`ProblemError` 401/429."""
        if not authorization or authorization[:7].lower() != "bearer " or not authorization[7:].strip():
            raise ProblemError(
                401,
                "unauthenticated",
                "a Bearer token from POST /oauth/token is required",
                headers={"WWW-Authenticate": BEARER_CHALLENGE},
            )
        grant = self.store.find_token(authorization[7:].strip())
        if grant is None or grant.expires_at <= time.time():
            detail = "the access token is unknown" if grant is None else "the access token has expired"
            raise ProblemError(
                401,
                "invalid-token",
                detail,
                headers={"WWW-Authenticate": BEARER_CHALLENGE + ', error="invalid_token"'},
            )
        client = self.settings.clients.get(grant.client_id)
        if client is None:
            raise ProblemError(
                401,
                "invalid-token",
                f"client {grant.client_id!r} is no longer registered",
                headers={"WWW-Authenticate": BEARER_CHALLENGE + ', error="invalid_token"'},
            )
        wait = self.buckets.take(client.client_id)
        if wait:
            raise ProblemError(
                429,
                "rate-limited",
                f"client {client.client_id!r} exceeded {self.settings.rate_per_second:g} requests/s",
                headers={"Retry-After": str(wait)},
            )
        return Principal(client, grant.scopes)

    @staticmethod
    def require_scope(principal: Principal, scope: str) -> None:
        if scope not in principal.scopes:
            raise ProblemError(
                403,
                "insufficient-scope",
                f"the token lacks scope {scope!r}",
                headers={"WWW-Authenticate": BEARER_CHALLENGE + f', error="insufficient_scope", scope="{scope}"'},
            )

    @staticmethod
    def require_tenant(principal: Principal, tenant_id: str) -> None:
        if not principal.client.may_act_for(tenant_id):
            raise ProblemError(
                403,
                "tenant-not-allowed",
                f"client {principal.client.client_id!r} may not act for tenant {tenant_id!r}",
            )
