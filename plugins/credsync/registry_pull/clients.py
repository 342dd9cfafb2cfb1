"""Who may pull: the registry clients of Connection ``credsync_registry_pull``.

The Connection's password is the key the endpoint signs its access tokens with; its extra holds
the clients, each with the SHA-256 of its secret (never the secret itself), the tenants it may
read and its request budget::

    {"token_ttl_seconds": 300,
     "clients": {"national-registry": {"secret_sha256": "<hex>", "tenants": ["acme"],
                                       "requests_per_minute": 120}}}
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CONN_ID = "credsync_registry_pull"
DEFAULT_TTL_SECONDS = 300
DEFAULT_REQUESTS_PER_MINUTE = 120
MIN_SIGNING_KEY_BYTES = 32


class ClientConfigError(ValueError):
    """The Connection cannot be used; the message names the field."""


@dataclass(frozen=True)
class PullClient:
    client_id: str
    secret_sha256: str
    tenants: frozenset[str]
    requests_per_minute: int

    def secret_matches(self, secret: str) -> bool:
        digest = hashlib.sha256(secret.encode()).hexdigest()
        return hmac.compare_digest(digest, self.secret_sha256)


@dataclass(frozen=True)
class PullSettings:
    signing_key: bytes
    token_ttl_seconds: int
    clients: Mapping[str, PullClient]


def secret_sha256(secret: str) -> str:
    """What goes into ``secret_sha256`` for a client secret (``python -m credsync.registry_pull hash``)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_settings(signing_key: str | None, extra: Mapping[str, Any]) -> PullSettings:
    """Validate the Connection's password and extra; raises :class:`ClientConfigError`."""
    key = (signing_key or "").encode()
    if len(key) < MIN_SIGNING_KEY_BYTES:
        raise ClientConfigError(f"Connection {CONN_ID}: the password (token signing key) must be at least "
                                f"{MIN_SIGNING_KEY_BYTES} bytes")
    raw_clients = extra.get("clients")
    if not isinstance(raw_clients, Mapping) or not raw_clients:
        raise ClientConfigError(f"Connection {CONN_ID}: extra 'clients' must name at least one client")
    clients = {}
    for client_id, raw in raw_clients.items():
        where = f"Connection {CONN_ID}: client {client_id!r}"
        digest = str(raw.get("secret_sha256", "")).lower() if isinstance(raw, Mapping) else ""
        if len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
            raise ClientConfigError(f"{where}: secret_sha256 must be 64 hex digits")
        tenants = raw.get("tenants")
        if not isinstance(tenants, list) or not tenants or not all(isinstance(t, str) and t for t in tenants):
            raise ClientConfigError(f"{where}: tenants must be a non-empty list of tenant ids")
        budget = raw.get("requests_per_minute", DEFAULT_REQUESTS_PER_MINUTE)
        if not isinstance(budget, int) or budget < 1:
            raise ClientConfigError(f"{where}: requests_per_minute must be a positive integer")
        clients[client_id] = PullClient(client_id, digest, frozenset(tenants), budget)
    ttl = extra.get("token_ttl_seconds", DEFAULT_TTL_SECONDS)
    if not isinstance(ttl, int) or not 30 <= ttl <= 3600:
        raise ClientConfigError(f"Connection {CONN_ID}: token_ttl_seconds must be an integer from 30 to 3600")
    return PullSettings(signing_key=key, token_ttl_seconds=ttl, clients=clients)


def settings_from_connection(conn_id: str = CONN_ID) -> PullSettings:
    """Read and validate the Connection (through Airflow's secrets backends)."""
    from airflow.sdk.bases.hook import BaseHook

    conn = BaseHook.get_connection(conn_id)
    return parse_settings(conn.password, conn.extra_dejson)
