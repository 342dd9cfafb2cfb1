"""Who issues: one did:web issuer per tenant, and the trust list verifiers check issuers against.

``CREDSYNC_ISSUER_BASE_URL`` is the public web origin the DID documents and status lists are
served from (``https://credentials.example.org`` in a deployment; ``http://localhost:PORT`` in the
demo and tests). Tenant ``acme``'s issuer is ``did:web:<host>:issuers:acme``: its DID document is
``<base>/issuers/acme/did.json`` and its status lists ``<base>/issuers/acme/status/<purpose>-<n>``.
The files are written under the object store folder ``did-web/`` (``CREDSYNC_DID_WEB_STORE`` to put
them elsewhere), which the web origin serves as-is. Plain module: no Airflow.

The trust list (``include/credentials/trust_list.yaml``) names the issuer DIDs a verifier accepts;
``own_issuers: true`` adds credsync's own issuer for every configured tenant.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from credsync.credentials.did_web import did_for
from credsync.credentials.keys import SigningKey

ISSUER_BASE_ENV = "CREDSYNC_ISSUER_BASE_URL"
DID_WEB_STORE_ENV = "CREDSYNC_DID_WEB_STORE"
DID_WEB_FOLDER = "did-web"
TRUST_LIST_ENV = "CREDSYNC_TRUST_LIST"
# Where credentials point when no web origin is configured: resolvable by nobody, so a
# forgotten setting shows up as "cannot resolve" rather than as a silently wrong issuer.
UNCONFIGURED_BASE = "https://issuer-base-url-not-configured.invalid"


class TrustListError(ValueError):
    """The trust list file is missing or malformed (the message names file and entry)."""


def issuer_base_url() -> str:
    return os.environ.get(ISSUER_BASE_ENV, "").strip().rstrip("/") or UNCONFIGURED_BASE


def tenant_issuer_base(tenant_id: str, base_url: str | None = None) -> str:
    return f"{(base_url or issuer_base_url()).rstrip('/')}/issuers/{tenant_id}"


def tenant_issuer_did(tenant_id: str, base_url: str | None = None) -> str:
    return did_for(base_url or issuer_base_url(), "issuers", tenant_id)


@dataclass(frozen=True)
class Issuer:
    """One tenant's issuer: its DID, its web folder, its display name and current signing key."""

    tenant_id: str
    did: str
    base: str  # the HTTP(S) URL of the issuer's folder (DID document, status lists)
    name: str
    key: SigningKey

    @classmethod
    def for_tenant(cls, tenant_id: str, key: SigningKey, *, name: str | None = None,
                   base_url: str | None = None) -> Issuer:
        return cls(tenant_id, tenant_issuer_did(tenant_id, base_url), tenant_issuer_base(tenant_id, base_url),
                   name or tenant_id, key)

    @property
    def key_method_id(self) -> str:
        return f"{self.did}#{self.key.key_id}"

    @cached_property
    def joserfc_key(self) -> Any:
        from joserfc.jwk import OKPKey

        return OKPKey.import_key(dict(self.key.private_jwk))

    def store_path(self) -> str:
        """Object-store folder of this issuer, relative to the did-web root."""
        return f"issuers/{self.tenant_id}"


def default_trust_list_path() -> Path:
    from credsync.paths import PROJECT_ROOT

    return Path(os.environ.get(TRUST_LIST_ENV, "") or PROJECT_ROOT / "include" / "credentials" / "trust_list.yaml")


def load_trust_list(path: Path | None = None, *, tenants: list[str] | None = None,
                    base_url: str | None = None) -> frozenset[str]:
    """The trusted issuer DIDs from ``path`` (default: the include/ file or ``$CREDSYNC_TRUST_LIST``)."""
    import yaml

    path = path or default_trust_list_path()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise TrustListError(f"{path}: cannot read the trust list ({exc})") from None
    if not isinstance(data, dict):
        raise TrustListError(f"{path}: expected a mapping with 'issuers' and/or 'own_issuers'")
    trusted: set[str] = set()
    for position, entry in enumerate(data.get("issuers") or []):
        did = entry.get("did") if isinstance(entry, dict) else None
        if not isinstance(did, str) or not did.startswith("did:web:"):
            raise TrustListError(f"{path}: issuers[{position}] has no did:web 'did'")
        trusted.add(did)
    if data.get("own_issuers"):
        if tenants is None:
            from credsync.tenants import load_tenants

            tenants = [t.tenant_id for t in load_tenants()]
        trusted.update(tenant_issuer_did(t, base_url) for t in tenants)
    return frozenset(trusted)
