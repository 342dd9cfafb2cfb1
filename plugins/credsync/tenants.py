"""Tenant configuration from include/tenants.yaml, validated at load."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credsync.mapping.identity import CASE_POLICIES, DEFAULT_CASE_POLICY
from credsync.paths import INCLUDE_DIR

TENANTS_FILE = INCLUDE_DIR / "tenants.yaml"
CONNECTION_ROLES = ("hris", "scim", "lrs", "lms", "registry")
_TENANT_ID = re.compile(r"^[a-z][a-z0-9_]{1,30}$")


class TenantConfigError(ValueError):
    """The tenants file is invalid; the message names the file, tenant and field."""


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    display_name: str
    region: str
    enabled: bool
    connections: dict[str, str]
    # How employee ids compare (credsync.mapping.identity): ``preserve`` keeps e1 and E1 two people;
    # ``upper``/``lower`` say the HRIS treats case as noise, so staging folds ids to one case.
    identity_case: str = DEFAULT_CASE_POLICY
    # Regions the tenant's personal data may go to (credsync.governance.residency); None: unrestricted.
    allowed_regions: tuple[str, ...] | None = None
    # Flows that need the worker's consent, and for which purpose (credsync.governance.consent).
    consent: dict[str, str] = dataclasses.field(default_factory=dict)
    # Erasure policy (credsync.governance.erasure): which workers' records are kept pseudonymised, and
    # who may re-identify them; empty: every erasure request erases.
    erasure: dict[str, Any] = dataclasses.field(default_factory=dict)
    # The national profile (credsync.national_profile): national LRS, platform key; None: not a national tenant.
    national: dict[str, Any] | None = None

    def conn_id(self, role: str) -> str:
        return self.connections[role]


def load_tenants(path: Path | None = None, *, enabled_only: bool = True) -> list[Tenant]:
    """All tenants declared in ``path`` (default :data:`TENANTS_FILE`; only the enabled ones by default)."""
    import yaml

    path = path or TENANTS_FILE
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    entries = raw.get("tenants")
    if not isinstance(entries, list) or not entries:
        raise TenantConfigError(f"{path}: expected a non-empty list under 'tenants'")
    tenants: list[Tenant] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries, start=1):
        tenant = _parse(path, index, entry)
        if tenant.tenant_id in seen:
            raise TenantConfigError(f"{path}: tenant #{index}: duplicate tenant_id {tenant.tenant_id!r}")
        seen.add(tenant.tenant_id)
        tenants.append(tenant)
    return [t for t in tenants if t.enabled or not enabled_only]


def get_tenant(tenant_id: str, path: Path | None = None) -> Tenant:
    """The enabled tenant ``tenant_id``; the one lookup every tenant task makes.

    Raises :class:`TenantConfigError` naming the file and the enabled tenants when it is not one of
    them (disabled since the run was planned, or a typo in a manual run's params).
    """
    tenants = load_tenants(path)
    for tenant in tenants:
        if tenant.tenant_id == tenant_id:
            return tenant
    raise TenantConfigError(f"{path or TENANTS_FILE}: tenant {tenant_id!r} is not an enabled tenant "
                            f"(enabled: {', '.join(t.tenant_id for t in tenants) or 'none'})")


def _parse(path: Path, index: int, entry: object) -> Tenant:
    where = f"{path}: tenant #{index}"
    if not isinstance(entry, dict):
        raise TenantConfigError(f"{where}: expected a mapping")
    for field in ("tenant_id", "display_name", "region", "connections"):
        if not entry.get(field):
            raise TenantConfigError(f"{where}: field {field!r} is required")
    tenant_id = str(entry["tenant_id"])
    if not _TENANT_ID.match(tenant_id):
        raise TenantConfigError(
            f"{where}: field 'tenant_id' {tenant_id!r} must match {_TENANT_ID.pattern}"
        )
    connections = entry["connections"]
    missing = [role for role in CONNECTION_ROLES if not (connections or {}).get(role)]
    if missing:
        raise TenantConfigError(f"{where} ({tenant_id}): connections missing {', '.join(missing)}")
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise TenantConfigError(f"{where} ({tenant_id}): field 'enabled' must be true or false")
    return Tenant(
        tenant_id=tenant_id,
        display_name=str(entry["display_name"]),
        region=str(entry["region"]),
        enabled=enabled,
        connections={role: str(connections[role]) for role in CONNECTION_ROLES},
        identity_case=_identity_case(f"{where} ({tenant_id})", entry.get("identity")),
        allowed_regions=_allowed_regions(f"{where} ({tenant_id})", entry.get("residency")),
        consent=_consent(f"{where} ({tenant_id})", entry.get("consent")),
        erasure=_erasure(f"{where} ({tenant_id})", entry.get("erasure")),
        national=_national(f"{where} ({tenant_id})", entry.get("national")),
    )


def _national(where: str, national: object) -> dict[str, Any] | None:
    """``national: {lrs, platform, platform_name, lms_url, certificate_url}``, checked by its own module."""
    from credsync.national_profile import NationalProfileError, parse_profile

    try:
        parse_profile(where, national)
    except NationalProfileError as exc:
        raise TenantConfigError(str(exc)) from None
    return dict(national) if isinstance(national, dict) else None


def _erasure(where: str, erasure: object) -> dict[str, Any]:
    """``erasure: {keep_records: [{when: {employment_type: contractor}, basis: ...}], reidentify_approvers: [...]}``.

    keep_records: who has a legal basis to keep records after an erasure request (pseudonymised; first
    matching rule wins, see credsync.governance.erasure_policy); reidentify_approvers: who may re-identify.
    """
    if erasure is None:
        return {}
    where = f"{where}: field 'erasure'"
    if not isinstance(erasure, dict) or set(erasure) - {"keep_records", "reidentify_approvers"}:
        raise TenantConfigError(f"{where} must be a mapping with 'keep_records' and/or 'reidentify_approvers'")
    rules = []
    for index, rule in enumerate(erasure.get("keep_records") or [], start=1):
        if not isinstance(rule, dict) or set(rule) != {"when", "basis"}:
            raise TenantConfigError(f"{where}: keep_records #{index} must have exactly 'when' and 'basis'")
        when = rule["when"]
        if not isinstance(when, dict) or not when or set(when) - set(ERASURE_RULE_FIELDS):
            raise TenantConfigError(f"{where}: keep_records #{index}: 'when' tests some of "
                                    f"{', '.join(ERASURE_RULE_FIELDS)}")
        if not isinstance(rule["basis"], str) or not rule["basis"].strip():
            raise TenantConfigError(f"{where}: keep_records #{index}: 'basis' must name the legal basis")
        rules.append({"when": {str(k): str(v) for k, v in when.items()}, "basis": rule["basis"].strip()})
    approvers = erasure.get("reidentify_approvers") or []
    if not isinstance(approvers, list) or not all(isinstance(a, str) and a.strip() for a in approvers):
        raise TenantConfigError(f"{where}: 'reidentify_approvers' must be a list of names")
    return {"keep_records": rules, "reidentify_approvers": [a.strip() for a in approvers]}


# The worker attributes an erasure keep_records rule may test (core.workers columns that are not personal data).
ERASURE_RULE_FIELDS = ("employment_type", "employment_status", "source_system")
CONSENT_FLOWS = ("registry_push",)


def _consent(where: str, consent: object) -> dict[str, str]:
    """``consent: {registry_push: registry_sharing}``: flow -> the purpose it needs consent for."""
    if consent is None:
        return {}
    if not isinstance(consent, dict) or not consent:
        raise TenantConfigError(f"{where}: field 'consent' must map flows to purposes, e.g. "
                                "{registry_push: registry_sharing}")
    unknown = sorted(set(consent) - set(CONSENT_FLOWS))
    if unknown:
        raise TenantConfigError(f"{where}: field 'consent' names unknown flow(s) {', '.join(unknown)} "
                                f"(known: {', '.join(CONSENT_FLOWS)})")
    if not all(isinstance(p, str) and re.match(r"^[a-z][a-z0-9_]{1,63}$", p) for p in consent.values()):
        raise TenantConfigError(f"{where}: field 'consent' purposes must be lowercase identifiers")
    return {str(k): str(v) for k, v in consent.items()}


def _allowed_regions(where: str, residency: object) -> tuple[str, ...] | None:
    """``residency: {allowed_regions: [sa-riyadh, ...]}``; absent means no restriction."""
    if residency is None:
        return None
    if not isinstance(residency, dict) or set(residency) != {"allowed_regions"}:
        raise TenantConfigError(f"{where}: field 'residency' must be a mapping with exactly 'allowed_regions'")
    regions = residency["allowed_regions"]
    if not isinstance(regions, list) or not regions or not all(isinstance(r, str) and r.strip() for r in regions):
        raise TenantConfigError(f"{where}: field 'residency.allowed_regions' must be a non-empty list of regions")
    return tuple(r.strip() for r in regions)


def _identity_case(where: str, identity: object) -> str:
    """``identity: {case: preserve|upper|lower}``; absent means preserve (ids are case-sensitive)."""
    if identity is None:
        return DEFAULT_CASE_POLICY
    if not isinstance(identity, dict):
        raise TenantConfigError(f"{where}: field 'identity' must be a mapping like {{case: preserve}}")
    unknown = sorted(set(identity) - {"case"})
    if unknown:
        raise TenantConfigError(f"{where}: field 'identity' has unknown key(s) {', '.join(map(repr, unknown))}"
                                " (known: 'case')")
    case = identity.get("case", DEFAULT_CASE_POLICY)
    if case not in CASE_POLICIES:
        raise TenantConfigError(f"{where}: field 'identity.case' is {case!r}; expected one of "
                                f"{', '.join(CASE_POLICIES)}")
    return str(case)
