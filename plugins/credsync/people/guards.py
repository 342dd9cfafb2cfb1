"""Per-tenant provisioning guards from include/tenants.yaml, validated at load.

Each tenant may carry::

    timezone: Europe/Berlin            # IANA name; "today" for effective dates (default UTC)
    provisioning:
      brake: {max_count: 10, max_share: 0.2}
      failure_budget: {max_failure_share: 0.5, min_sample: 20, backoff_minutes: [15, 60, 240]}
      effective_dating: {lookahead_days: 0}

- ``brake``: a run that would deactivate (or remove from groups) more than ``max_count`` accounts
  *and* more than ``max_share`` of the tenant's active accounts stages them for approval instead
  (Entra's accidental-deletion threshold, with a share so a small tenant's ordinary leaver does not
  wait for a human). ``max_share: 0`` brakes on the count alone, ``max_count: 0`` on the share alone.
- ``failure_budget``: once a run made ``min_sample`` SCIM writes and more than
  ``max_failure_share`` of them failed, the tenant's target is quarantined; it is probed again
  after ``backoff_minutes[strikes - 1]`` (the last step repeats).
- ``effective_dating.lookahead_days``: hires and rehires are provisioned up to that many days
  before their date (accounts ready on day one); terminations always wait for their date.

Plain module (no Airflow); errors name the file, the tenant and the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from credsync.tenants import TENANTS_FILE, TenantConfigError


@dataclass(frozen=True)
class Brake:
    max_count: int = 10
    max_share: float = 0.2

    def trips(self, changes: int, population: int) -> bool:
        """True when ``changes`` destructive changes out of ``population`` active accounts need approval."""
        if changes == 0:
            return False
        share = changes / population if population else 1.0
        return changes > self.max_count and share > self.max_share

    def as_dict(self) -> dict[str, Any]:
        return {"max_count": self.max_count, "max_share": self.max_share}


@dataclass(frozen=True)
class FailureBudget:
    max_failure_share: float = 0.5
    min_sample: int = 20
    backoff_minutes: tuple[int, ...] = (15, 60, 240)

    def backoff(self, strikes: int) -> int:
        """Minutes to wait after the ``strikes``-th consecutive trip."""
        return self.backoff_minutes[min(max(strikes, 1), len(self.backoff_minutes)) - 1]


@dataclass(frozen=True)
class ProvisioningGuards:
    tenant_id: str
    timezone: str = "UTC"
    brake: Brake = field(default_factory=Brake)
    failure_budget: FailureBudget = field(default_factory=FailureBudget)
    lookahead_days: int = 0

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_guards(tenant_id: str, path: Path = TENANTS_FILE) -> ProvisioningGuards:
    """The guards of ``tenant_id`` (defaults for a tenant that sets none)."""
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for index, entry in enumerate(raw.get("tenants") or [], start=1):
        if isinstance(entry, dict) and entry.get("tenant_id") == tenant_id:
            return parse_guards(f"{path}: tenant #{index} ({tenant_id})", tenant_id, entry)
    raise TenantConfigError(f"{path}: no tenant {tenant_id!r}")


def parse_guards(where: str, tenant_id: str, entry: dict[str, Any]) -> ProvisioningGuards:
    timezone = str(entry.get("timezone") or "UTC")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise TenantConfigError(f"{where}: field 'timezone' {timezone!r} is not an IANA time zone") from None
    section = _mapping(where, "provisioning", entry.get("provisioning"),
                       {"brake", "failure_budget", "effective_dating"})
    brake = _mapping(where, "provisioning.brake", section.get("brake"), {"max_count", "max_share"})
    budget = _mapping(where, "provisioning.failure_budget", section.get("failure_budget"),
                      {"max_failure_share", "min_sample", "backoff_minutes"})
    dating = _mapping(where, "provisioning.effective_dating", section.get("effective_dating"), {"lookahead_days"})
    backoff = budget.get("backoff_minutes", list(FailureBudget.backoff_minutes))
    if not isinstance(backoff, list) or not backoff or not all(isinstance(m, int) and m > 0 for m in backoff):
        raise TenantConfigError(f"{where}: field 'provisioning.failure_budget.backoff_minutes' must be a "
                                f"non-empty list of positive minutes, not {backoff!r}")
    return ProvisioningGuards(
        tenant_id=tenant_id,
        timezone=timezone,
        brake=Brake(max_count=_number(where, "provisioning.brake.max_count", brake, Brake.max_count, int, 0),
                    max_share=_number(where, "provisioning.brake.max_share", brake, Brake.max_share, float, 0, 1)),
        failure_budget=FailureBudget(
            max_failure_share=_number(where, "provisioning.failure_budget.max_failure_share", budget,
                                      FailureBudget.max_failure_share, float, 0, 1),
            min_sample=_number(where, "provisioning.failure_budget.min_sample", budget,
                               FailureBudget.min_sample, int, 1),
            backoff_minutes=tuple(backoff)),
        lookahead_days=_number(where, "provisioning.effective_dating.lookahead_days", dating, 0, int, 0, 60),
    )


def _mapping(where: str, name: str, value: object, known: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise TenantConfigError(f"{where}: field {name!r} must be a mapping")
    unknown = sorted(set(value) - known)
    if unknown:
        raise TenantConfigError(f"{where}: field {name!r} has unknown key(s) {', '.join(map(repr, unknown))} "
                                f"(known: {', '.join(map(repr, sorted(known)))})")
    return value


def _number(where: str, name: str, section: dict[str, Any], default: Any, kind: type,
            low: float, high: float | None = None) -> Any:
    value = section.get(name.rsplit(".", 1)[1], default)
    # bool is an int in Python; "true" as a threshold is a typo, not 1.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind is int and not isinstance(value, int)):
        raise TenantConfigError(f"{where}: field {name!r} must be a{'n integer' if kind is int else ' number'}, "
                                f"not {value!r}")
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise TenantConfigError(f"{where}: field {name!r} is {value!r}; expected {bounds}")
    return kind(value)
