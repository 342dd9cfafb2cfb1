"""Delivery settings from include/delivery.yaml, validated at load."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from credsync.hooks.policy import PolicyError, RetryPolicy, Timeouts, http_settings, retry_policy_from
from credsync.paths import INCLUDE_DIR

DELIVERY_FILE = INCLUDE_DIR / "delivery.yaml"
# The Airflow pool every registry-calling task runs in, so all tenants together respect the rate limit.
REGISTRY_POOL = "registry_api"


class DeliveryConfigError(ValueError):
    """include/delivery.yaml is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class RegistrySettings:
    """The registry's delivery settings; ``retry`` is the one policy (include/http.yaml) with the
    registry's overrides from ``registry.retry``."""

    mapping: str = "registry_certificate_v1"
    batch_size: int = 100
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 5.0
    retry: RetryPolicy = field(default_factory=lambda: http_settings().retry)
    max_total_attempts: int = 40
    token_refresh_margin_seconds: float = 30.0

    def client_options(self) -> dict[str, object]:
        """What the registry hook / client take from these settings (policy, timeouts, token margin)."""
        return {"policy": self.retry, "timeouts": Timeouts(self.connect_timeout_seconds, self.timeout_seconds),
                "token_refresh_margin_seconds": self.token_refresh_margin_seconds}


@dataclass(frozen=True)
class WritebackSettings:
    # A store URL or absolute path; None: $CREDSYNC_PAYROLL_STORE or $CREDSYNC_OBJECT_STORE/payroll.
    payroll_csv_dir: str | None = None
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class DeliverySettings:
    registry: RegistrySettings = field(default_factory=RegistrySettings)
    writeback: WritebackSettings = field(default_factory=WritebackSettings)
    default_reminder_days: tuple[int, ...] = (30, 7)


def _section(path: Path, raw: dict[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise DeliveryConfigError(f"{path}: {key!r} must be a mapping")
    return value


def _positive(path: Path, where: str, value: Any, kind: type) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise DeliveryConfigError(f"{path}: {where} must be a {kind.__name__}, got {value!r}") from None
    if number <= 0:
        raise DeliveryConfigError(f"{path}: {where} must be positive, got {value!r}")
    return number


@cache
def load_delivery_settings(path: Path = DELIVERY_FILE) -> DeliverySettings:
    """Settings from ``path``; missing keys take the defaults above."""
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise DeliveryConfigError(f"{path}: expected a mapping at the top level")
    reg = _section(path, raw, "registry")
    try:
        retry = retry_policy_from(_section(path, reg, "retry"), "registry.retry")
    except PolicyError as exc:
        raise DeliveryConfigError(f"{path}: {exc}") from None
    reg_defaults = RegistrySettings()
    batch_size = _positive(path, "registry.batch_size", reg.get("batch_size", reg_defaults.batch_size), int)
    if batch_size > 100:
        raise DeliveryConfigError(f"{path}: registry.batch_size {batch_size} exceeds the registry's 100 items")
    registry = RegistrySettings(
        mapping=str(reg.get("mapping", reg_defaults.mapping)),
        batch_size=batch_size,
        timeout_seconds=_positive(path, "registry.timeout_seconds",
                                  reg.get("timeout_seconds", reg_defaults.timeout_seconds), float),
        connect_timeout_seconds=_positive(path, "registry.connect_timeout_seconds",
                                          reg.get("connect_timeout_seconds",
                                                  reg_defaults.connect_timeout_seconds), float),
        retry=retry,
        max_total_attempts=_positive(path, "registry.max_total_attempts",
                                     reg.get("max_total_attempts", reg_defaults.max_total_attempts), int),
        token_refresh_margin_seconds=float(reg.get("token_refresh_margin_seconds",
                                                   reg_defaults.token_refresh_margin_seconds)),
    )
    wb = _section(path, raw, "writeback")
    # Unset: the object store's payroll/ folder (credsync.delivery.writeback.payroll_store).
    raw_dir = wb.get("payroll_csv_dir")
    writeback = WritebackSettings(
        payroll_csv_dir=str(raw_dir).strip() or None if raw_dir else None,
        timeout_seconds=_positive(path, "writeback.timeout_seconds", wb.get("timeout_seconds", 10), float),
    )
    reminders = _section(path, raw, "reminders")
    days = reminders.get("default_days", [30, 7])
    if not isinstance(days, list) or not days:
        raise DeliveryConfigError(f"{path}: reminders.default_days must be a non-empty list of days")
    default_days = tuple(sorted({_positive(path, "reminders.default_days[]", d, int) for d in days},
                                reverse=True))
    return DeliverySettings(registry=registry, writeback=writeback, default_reminder_days=default_days)
