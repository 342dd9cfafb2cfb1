"""A tenant's talent marketplace profile (``marketplace:`` in include/tenants.yaml), validated.

Only tenants with one take part in the marketplace sync (dags/marketplace_sync.py)::

    marketplace:
      conn: marketplace_acme          # Airflow Connection: login/password = OAuth client id/secret,
                                      # extra signing_secret (events), extra scopes per flow
      certificate_url: https://credentials.acme.example/credentials/{award_id}
      certificate_retention_days: 365 # certificate_ref.retain_until = expiry (or issue + 10 y) + this
      pseudonymise: [contractor, alumni]   # who is sent under a pseudonymised member id
      pseudonym_email_domain: pseudonyms.acme.example  # their email: <pseudonym>@<this> (a domain the
                                      # tenant holds, so the marketplace's mail checks take it; no mailbox)

Read next to credsync.tenants (which leaves unknown blocks alone), the way people.guards reads
``provisioning:``: plain Python, errors name the file, tenant and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credsync.tenants import TENANTS_FILE, TenantConfigError

_HTTPS = re.compile(r"^https://[^\s{}/@]+(/[^\s{}]*)?$")
PSEUDONYMISED_GROUPS = ("contractor", "alumni")
KNOWN = {"conn", "certificate_url", "certificate_retention_days", "pseudonymise", "pseudonym_email_domain"}
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
DEFAULT_PSEUDONYM_DOMAIN = "pseudonyms.credsync.example"


@dataclass(frozen=True)
class MarketplaceProfile:
    tenant_id: str
    conn_id: str
    certificate_url: str
    certificate_retention_days: int = 365
    pseudonymise: tuple[str, ...] = PSEUDONYMISED_GROUPS
    pseudonym_email_domain: str = DEFAULT_PSEUDONYM_DOMAIN

    def certificate_location(self, award_id: str) -> str:
        return self.certificate_url.replace("{award_id}", award_id)

    def pseudonymised(self, employment_type: str | None, employment_status: str | None) -> bool:
        """Contractors and alumni (terminated workers) go under a pseudonym, when the profile says so."""
        return (("contractor" in self.pseudonymise and employment_type == "contractor")
                or ("alumni" in self.pseudonymise and employment_status == "terminated"))


def parse_profile(where: str, tenant_id: str, raw: object) -> MarketplaceProfile | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise TenantConfigError(f"{where}: field 'marketplace' must be a mapping")
    unknown = sorted(set(raw) - KNOWN)
    if unknown:
        raise TenantConfigError(f"{where}: field 'marketplace' has unknown key(s) {', '.join(unknown)} "
                                f"(known: {', '.join(sorted(KNOWN))})")
    for key in ("conn", "certificate_url"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise TenantConfigError(f"{where}: field 'marketplace.{key}' is required")
    url = raw["certificate_url"].strip()
    if "{award_id}" not in url or not _HTTPS.match(url.replace("{award_id}", "x")):
        raise TenantConfigError(f"{where}: field 'marketplace.certificate_url' must be an https URL with "
                                "{award_id} (each learner's own certificate)")
    days = raw.get("certificate_retention_days", 365)
    if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= 36500:
        raise TenantConfigError(f"{where}: field 'marketplace.certificate_retention_days' must be 0..36500 days")
    groups = raw.get("pseudonymise", list(PSEUDONYMISED_GROUPS))
    if not isinstance(groups, list) or set(groups) - set(PSEUDONYMISED_GROUPS):
        raise TenantConfigError(f"{where}: field 'marketplace.pseudonymise' must list some of "
                                f"{', '.join(PSEUDONYMISED_GROUPS)}")
    domain = str(raw.get("pseudonym_email_domain") or DEFAULT_PSEUDONYM_DOMAIN).strip().lower()
    if not _DOMAIN.match(domain):
        raise TenantConfigError(f"{where}: field 'marketplace.pseudonym_email_domain' {domain!r} is not a domain")
    return MarketplaceProfile(tenant_id, raw["conn"].strip(), url, days, tuple(groups), domain)


def load_profiles(path: Path | None = None) -> dict[str, MarketplaceProfile]:
    """The marketplace profile of every enabled tenant that has one."""
    import yaml

    from credsync.tenants import load_tenants

    path = path or TENANTS_FILE
    enabled = {t.tenant_id for t in load_tenants(path)}
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    profiles: dict[str, MarketplaceProfile] = {}
    for index, entry in enumerate(raw.get("tenants") or [], start=1):
        if not isinstance(entry, dict) or entry.get("tenant_id") not in enabled:
            continue
        tenant_id = str(entry["tenant_id"])
        profile = parse_profile(f"{path}: tenant #{index} ({tenant_id})", tenant_id, entry.get("marketplace"))
        if profile is not None:
            profiles[tenant_id] = profile
    return profiles


def profile_of(tenant_id: str, path: Path | None = None) -> MarketplaceProfile | None:
    return load_profiles(path).get(tenant_id)


def as_dict(profile: MarketplaceProfile) -> dict[str, Any]:
    return {"conn_id": profile.conn_id, "certificate_url": profile.certificate_url}
