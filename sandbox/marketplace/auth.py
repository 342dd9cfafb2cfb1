"""OAuth 2.0 (RFC 6749 client credentials + refresh, RFC 7009 revocation) and the bearer checks on ``/v1``.

Quirks of real SaaS authorisation servers, on purpose: access tokens live minutes; every refresh
rotates the refresh token, and presenting a spent one is taken as theft (OAuth 2.0 Security BCP,
RFC 9700 section 4.14.2): the whole token family is revoked, access tokens included. Token errors are
problem+json like every other error, with RFC 6749's ``error`` / ``error_description`` members as well,
so OAuth client libraries still read them. Every issue, refresh, reuse, revocation and refusal is
written to the token audit (hash prefixes only, never a token).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote_plus

from sandbox.marketplace.config import Client, MarketplaceSettings
from sandbox.marketplace.problems import ProblemError
from sandbox.marketplace.store import MarketplaceStore
from sandbox.registry.ratelimit import TokenBuckets

REALM = 'Bearer realm="marketplace"'
NO_CACHE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def oauth_error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> ProblemError:
    exc = ProblemError(status, error, description, headers={**NO_CACHE, **(headers or {})})
    exc.body.update(error=error, error_description=description)
    return exc


@dataclass(frozen=True)
class Principal:
    """The client behind a valid bearer token and the scopes that token carries."""

    client: Client
    scopes: frozenset[str]

    @property
    def tenant(self) -> str:
        return self.client.tenant


class Authority:
    """Issues, rotates and revokes tokens; turns ``Authorization`` headers into :class:`Principal` objects."""

    def __init__(self, settings: MarketplaceSettings, store: MarketplaceStore) -> None:
        self.settings = settings
        self.store = store
        self.token_ttl = settings.token_ttl_seconds
        self.buckets = TokenBuckets(settings.rate_per_second, settings.burst)
        for client in settings.clients.values():
            store.save_client(client)

    def set_rate(self, rate: float, burst: int) -> None:
        self.buckets = TokenBuckets(rate, burst)

    # -- the token endpoint -------------------------------------------------------

    @staticmethod
    def _form(content_type: str, body: bytes) -> dict[str, str]:
        if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            raise oauth_error(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        try:
            form = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise oauth_error(400, "invalid_request", "the form body cannot be parsed") from None
        repeated = sorted(name for name, values in form.items() if len(values) > 1)
        if repeated:
            raise oauth_error(400, "invalid_request", f"parameters must not repeat: {repeated}")
        return {name: values[0] for name, values in form.items()}

    def issue_token(self, content_type: str, body: bytes, authorization: str | None) -> dict[str, object]:
        """``POST /oauth/token``: client credentials or refresh token grant; raises :class:`ProblemError`."""
        params = self._form(content_type, body)
        grant_type = params.get("grant_type")
        if not grant_type:
            raise oauth_error(400, "invalid_request", "grant_type is required")
        if grant_type not in ("client_credentials", "refresh_token"):
            raise oauth_error(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        client = self._authenticate(params, authorization)
        requested = params.get("scope")
        scopes = frozenset(requested.split()) if requested and requested.strip() else None
        if grant_type == "client_credentials":
            granted = client.scopes if scopes is None else scopes
            if not granted <= client.scopes:
                self.store.audit_now(client.client_id, "denied", scopes=granted,
                                     detail=f"invalid_scope {sorted(granted - client.scopes)}")
                raise oauth_error(400, "invalid_scope",
                                  f"client {client.client_id!r} may not request {sorted(granted - client.scopes)}")
            return self._issue(client, granted, uuid.uuid4().hex, "issued")
        return self._refresh(client, params.get("refresh_token") or "", scopes)

    def _issue(self, client: Client, scopes: frozenset[str], family_id: str, action: str) -> dict[str, object]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(48)
        with self.store.transaction() as db:
            self.store.save_token(db, access, "access", client.client_id, family_id, scopes, self.token_ttl)
            self.store.save_token(db, refresh, "refresh", client.client_id, family_id, scopes,
                                  self.settings.refresh_ttl_seconds)
            self.store.audit(db, client.client_id, action, family_id=family_id, kind="access", token=access,
                             scopes=scopes)
        return {"access_token": access, "token_type": "Bearer", "expires_in": self.token_ttl,
                "refresh_token": refresh, "scope": " ".join(sorted(scopes))}

    def _refresh(self, client: Client, refresh_token: str, scopes: frozenset[str] | None) -> dict[str, object]:
        if not refresh_token:
            raise oauth_error(400, "invalid_request", "refresh_token is required")
        # A refusal is raised after the transaction commits: the family's revocation and the audit must stay.
        refusal: ProblemError | None = None
        with self.store.transaction() as db:
            row = self.store.find_token(refresh_token)
            if row is None or row["kind"] != "refresh" or row["client_id"] != client.client_id:
                self.store.audit(db, client.client_id, "denied", kind="refresh", token=refresh_token,
                                 detail="unknown refresh token")
                refusal = oauth_error(400, "invalid_grant", "the refresh token is unknown")
            elif row["status"] == "spent":
                revoked = self.store.revoke_family(db, row["family_id"])
                self.store.audit(db, client.client_id, "reuse_detected", family_id=row["family_id"],
                                 kind="refresh", token=refresh_token,
                                 detail=f"spent refresh token presented again; {revoked} tokens of the family revoked")
                refusal = oauth_error(400, "invalid_grant", "the refresh token was already used; its family is revoked")
            elif row["status"] == "revoked" or row["expires_at"] <= time.time():
                self.store.audit(db, client.client_id, "denied", family_id=row["family_id"], kind="refresh",
                                 token=refresh_token, detail=f"refresh token {row['status']} or expired")
                refusal = oauth_error(400, "invalid_grant", "the refresh token is revoked or expired")
            else:
                held = frozenset(row["scopes"].split())
                granted = held if scopes is None else scopes
                if not granted <= held:
                    refusal = oauth_error(400, "invalid_scope", f"a refresh may only narrow the scopes {sorted(held)}")
                else:
                    db.execute("UPDATE tokens SET status = 'spent' WHERE token_sha256 = ?", (row["token_sha256"],))
        if refusal is not None:
            raise refusal
        return self._issue(client, granted, row["family_id"], "refreshed")

    def revoke(self, content_type: str, body: bytes, authorization: str | None) -> None:
        """``POST /oauth/revoke`` (RFC 7009): 200 whatever the token; a refresh token takes its family along."""
        params = self._form(content_type, body)
        client = self._authenticate(params, authorization)
        token = params.get("token")
        if not token:
            raise oauth_error(400, "invalid_request", "token is required")
        with self.store.transaction() as db:
            row = self.store.find_token(token)
            if row is None or row["client_id"] != client.client_id:
                self.store.audit(db, client.client_id, "revoke_ignored", token=token, detail="unknown token")
                return
            if row["kind"] == "refresh":
                count = self.store.revoke_family(db, row["family_id"])
            else:
                count = db.execute("UPDATE tokens SET status = 'revoked' WHERE token_sha256 = ?",
                                   (row["token_sha256"],)).rowcount
            self.store.audit(db, client.client_id, "revoked", family_id=row["family_id"], kind=row["kind"],
                             token=token, detail=f"{count} tokens revoked")

    def _authenticate(self, params: dict[str, str], authorization: str | None) -> Client:
        basic = authorization is not None and authorization[:6].lower() == "basic "
        challenge = {"WWW-Authenticate": 'Basic realm="marketplace"'}
        if basic and ("client_id" in params or "client_secret" in params):
            raise oauth_error(400, "invalid_request", "use either HTTP Basic or form credentials, not both")
        if basic:
            try:
                raw_id, raw_secret = base64.b64decode(authorization[6:].strip(), validate=True).decode().split(":", 1)
            except (binascii.Error, UnicodeDecodeError, ValueError):
                raise oauth_error(401, "invalid_client", "malformed Basic credentials", challenge) from None
            # RFC 6749 2.3.1: Basic credentials are form-urlencoded before base64.
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        else:
            client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
            if not client_id:
                raise oauth_error(401, "invalid_client", "client authentication is required", challenge)
        client = self.store.clients().get(client_id)
        if client is None or not hmac.compare_digest(client.secret.encode(), secret.encode()):
            raise oauth_error(401, "invalid_client", "unknown client or wrong secret", challenge)
        return client

    # -- bearer checks ------------------------------------------------------------

    def principal(self, authorization: str | None, scope: str | None) -> Principal:
        """The caller of a ``/v1`` request: valid token, then the client's rate limit, then ``scope``."""
        if not authorization or authorization[:7].lower() != "bearer " or not authorization[7:].strip():
            raise ProblemError(401, "invalid_token", "a Bearer token from POST /oauth/token is required",
                               headers={"WWW-Authenticate": REALM})
        token = authorization[7:].strip()
        row = self.store.find_token(token)
        problem_header = {"WWW-Authenticate": REALM + ', error="invalid_token"'}
        if row is None or row["kind"] != "access":
            raise ProblemError(401, "invalid_token", "the access token is unknown", headers=problem_header)
        if row["status"] != "active":
            raise ProblemError(401, "invalid_token", "the access token was revoked", headers=problem_header)
        if row["expires_at"] <= time.time():
            raise ProblemError(401, "invalid_token", "the access token has expired", headers=problem_header)
        client = self.store.clients().get(row["client_id"])
        if client is None:
            raise ProblemError(401, "invalid_token", "the client is no longer registered", headers=problem_header)
        wait = self.buckets.take(client.client_id)
        if wait:
            raise ProblemError(429, "rate_limited", f"client {client.client_id!r} is over its rate limit",
                               headers={"Retry-After": str(wait)})
        principal = Principal(client, frozenset(row["scopes"].split()))
        if scope is not None:
            self.require_scope(principal, scope)
        return principal

    @staticmethod
    def require_scope(principal: Principal, scope: str) -> None:
        if scope not in principal.scopes:
            raise ProblemError(
                403, "insufficient_scope", f"the token lacks scope {scope!r}",
                headers={"WWW-Authenticate": REALM + f', error="insufficient_scope", scope="{scope}"'},
                required_scope=scope,
            )
