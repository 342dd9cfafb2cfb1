"""Registry sandbox settings, read from the environment once at start."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

SCOPES = frozenset({"certificates:read", "certificates:write"})
# Used only when SANDBOX_REGISTRY_CLIENTS is unset, so `make sandbox` works out of the box.
DEFAULT_CLIENTS = {"credsync": {"secret": "credsync-sandbox-secret", "tenants": ["acme", "globex"]}}


@dataclass(frozen=True)
class Client:
    """An OAuth client: its secret, the tenants it may act for (``*`` = all) and its scopes."""

    client_id: str
    secret: str
    tenants: frozenset[str]
    scopes: frozenset[str] = SCOPES

    def may_act_for(self, tenant_id: str) -> bool:
        return "*" in self.tenants or tenant_id in self.tenants


@dataclass(frozen=True)
class RegistrySettings:
    data_dir: Path
    clients: dict[str, Client] = field(default_factory=dict)
    token_ttl_seconds: int = 300
    rate_per_second: float = 200.0
    burst: int = 400
    # Issuer DIDs whose credentials /v1/verify can accept (comma-separated in the environment).
    trusted_issuers: frozenset[str] = frozenset()

    @classmethod
    def from_env(cls) -> RegistrySettings:
        """Read ``SANDBOX_DATA_DIR`` and ``SANDBOX_REGISTRY_*``; errors name the variable at fault."""
        raw_clients = os.environ.get("SANDBOX_REGISTRY_CLIENTS")
        try:
            clients = parse_clients(json.loads(raw_clients) if raw_clients else DEFAULT_CLIENTS)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"SANDBOX_REGISTRY_CLIENTS is invalid: {exc}") from None
        return cls(
            data_dir=Path(os.environ.get("SANDBOX_DATA_DIR", "build/sandbox")),
            clients=clients,
            token_ttl_seconds=_number("SANDBOX_REGISTRY_TOKEN_TTL", 300, int),
            rate_per_second=_number("SANDBOX_REGISTRY_RATE", 200.0, float),
            burst=_number("SANDBOX_REGISTRY_BURST", 400, int),
            trusted_issuers=frozenset(
                d.strip() for d in os.environ.get("SANDBOX_REGISTRY_TRUSTED_ISSUERS", "").split(",") if d.strip()
            ),
        )


def _number(name: str, default: float, kind: type) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if value <= 0:
        raise ValueError(f"{name}={raw!r} must be positive")
    return value


def parse_clients(data: dict) -> dict[str, Client]:
    """``{"client_id": {"secret": "...", "tenants": [...], "scopes": [...]?}}`` to :class:`Client` objects."""
    if not isinstance(data, dict) or not data:
        raise ValueError("expected a non-empty JSON object of clients")
    clients = {}
    for client_id, entry in data.items():
        scopes = frozenset(entry.get("scopes", SCOPES))
        if not scopes <= SCOPES:
            raise ValueError(f"client {client_id!r}: unknown scopes {sorted(scopes - SCOPES)}")
        if not isinstance(entry["secret"], str) or not entry["secret"]:
            raise ValueError(f"client {client_id!r}: secret must be a non-empty string")
        clients[client_id] = Client(client_id, entry["secret"], frozenset(entry["tenants"]), scopes)
    return clients
