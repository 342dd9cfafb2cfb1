"""Short-lived access tokens for registry clients (OAuth 2.0 client credentials, RFC 6749 §4.4).

Signed JWTs (HS256, joserfc) with the endpoint's own key: the endpoint is the only party that
issues and reads them, and a token names its client and the tenants it may read.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from credsync.registry_pull.clients import PullClient, PullSettings

ISSUER = "credsync"
AUDIENCE = "credsync-registry-pull"
SCOPE = "records:read"


class InvalidToken(Exception):
    """The bearer token is missing, malformed, forged or expired."""


@dataclass(frozen=True)
class Grant:
    client_id: str
    tenants: frozenset[str]


def issue(settings: PullSettings, client: PullClient, *, now: float | None = None) -> dict[str, object]:
    """The token response body (RFC 6749 §5.1)."""
    issued = int(now if now is not None else time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": client.client_id, "tenants": sorted(client.tenants),
              "scope": SCOPE, "iat": issued, "exp": issued + settings.token_ttl_seconds,
              "jti": uuid.uuid4().hex}
    token = jwt.encode({"alg": "HS256", "typ": "at+jwt"}, claims, OctKey.import_key(settings.signing_key))
    return {"access_token": token, "token_type": "Bearer", "expires_in": settings.token_ttl_seconds,
            "scope": SCOPE}


def verify(settings: PullSettings, token: str, *, now: float | None = None) -> Grant:
    """The grant a token carries; raises :class:`InvalidToken` with the reason."""
    try:
        decoded = jwt.decode(token, OctKey.import_key(settings.signing_key), algorithms=["HS256"])
        jwt.JWTClaimsRegistry(
            now=int(now if now is not None else time.time()), leeway=5,
            iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": AUDIENCE},
            exp={"essential": True}, sub={"essential": True},
        ).validate(decoded.claims)
    except (JoseError, ValueError) as exc:
        raise InvalidToken(f"the access token is not valid ({type(exc).__name__})") from None
    client = settings.clients.get(decoded.claims["sub"])
    if client is None:  # the client was removed from the Connection since the token was issued
        raise InvalidToken("the access token's client is no longer configured")
    # The Connection, not the token, is the authority on tenants: a narrowed client loses access at once.
    return Grant(client.client_id, client.tenants & frozenset(decoded.claims.get("tenants", [])))
