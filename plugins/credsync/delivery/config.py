"""Delivery settings from include/delivery.yaml, validated at load."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from credsync.paths import BUILD_DIR, INCLUDE_DIR, PROJECT_ROOT

DELIVERY_FILE = INCLUDE_DIR / "delivery.yaml"
# The Airflow pool every registry-calling task runs in, so all tenants together respect the rate limit.
REGISTRY_POOL = "registry_api"


class DeliveryConfigError(ValueError):
    """include/delivery.yaml is invalid; the message names the file and the key."""


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for transient failures (5xx, timeouts, resets); 429 waits for Retry-After instead."""

    initial_seconds: float = 0.5
    multiplier: float = 2.0
    max_seconds: float = 30.0
    max_attempts: int = 8
    max_throttled: int = 30
    # A 429's Retry-After is honoured up to this; a longer one ends the call at once (the task holds a
    # pool slot while it sleeps: an hour-long wait belongs to the next run, not to a sleeping worker).
    max_retry_after_seconds: float = 60.0
    # All waits of one call (backoff and Retry-After together) stay under this.
    max_total_wait_seconds: float = 300.0

    def backoff(self, failures: int) -> float:
        """Upper bound of the wait after ``failures`` transient failures (1-based), before jitter."""
        return min(self.max_seconds, self.initial_seconds * self.multiplier ** max(0, failures - 1))


@dataclass(frozen=True)
class RegistrySettings:
    mapping: str = "registry_certificate_v1"
    batch_size: int = 100
    timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 5.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    max_total_attempts: int = 40
    token_refresh_margin_seconds: float = 30.0


@dataclass(frozen=True)
class WritebackSettings:
    payroll_csv_dir: Path = BUILD_DIR / "payroll"
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
    retry_raw = _section(path, reg, "retry")
    defaults = RetryPolicy()
    retry = RetryPolicy(
        **{
            name: _positive(path, f"registry.retry.{name}", retry_raw.get(name, getattr(defaults, name)),
                            type(getattr(defaults, name)))
            for name in RetryPolicy.__dataclass_fields__
        }
    )
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
    # Unset: <build dir>/payroll (CREDSYNC_BUILD_DIR moves it); relative: from the project root.
    raw_dir = wb.get("payroll_csv_dir")
    csv_dir = BUILD_DIR / "payroll" if not raw_dir else Path(str(raw_dir))
    writeback = WritebackSettings(
        payroll_csv_dir=csv_dir if csv_dir.is_absolute() else PROJECT_ROOT / csv_dir,
        timeout_seconds=_positive(path, "writeback.timeout_seconds", wb.get("timeout_seconds", 10), float),
    )
    reminders = _section(path, raw, "reminders")
    days = reminders.get("default_days", [30, 7])
    if not isinstance(days, list) or not days:
        raise DeliveryConfigError(f"{path}: reminders.default_days must be a non-empty list of days")
    default_days = tuple(sorted({_positive(path, "reminders.default_days[]", d, int) for d in days},
                                reverse=True))
    return DeliverySettings(registry=registry, writeback=writeback, default_reminder_days=default_days)
