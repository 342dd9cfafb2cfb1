"""The one retry policy of every outside call, and where its numbers come from.

Defaults live in ``include/http.yaml``; a system's settings file may override them for that
system (``registry.retry`` in include/delivery.yaml) and a Connection may override them for
one connection (extra ``{"retry": {"max_attempts": 3}}``). All three go through
:func:`retry_policy_from`, so a bad value is refused the same way and named where it was found.

Plain Python: importable without Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import cache
from pathlib import Path
from typing import Any

from credsync.paths import INCLUDE_DIR

HTTP_FILE = INCLUDE_DIR / "http.yaml"


class PolicyError(ValueError):
    """A retry or timeout setting is invalid; the message names where it came from and the key."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: 5xx, timeouts and resets back off; a 429 waits for its Retry-After, within caps."""

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
class Timeouts:
    """Seconds to connect and to wait for each read; a hang past them counts as a transient failure."""

    connect_seconds: float = 5.0
    read_seconds: float = 30.0

    def as_requests(self) -> tuple[float, float]:
        return (self.connect_seconds, self.read_seconds)


@dataclass(frozen=True)
class HttpSettings:
    retry: RetryPolicy = RetryPolicy()
    timeouts: Timeouts = Timeouts()


def _positive(where: str, value: Any, kind: type) -> Any:
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise PolicyError(f"{where} must be a {kind.__name__}, got {value!r}") from None
    if isinstance(value, bool) or number <= 0:
        raise PolicyError(f"{where} must be positive, got {value!r}")
    return number


def _overlay(base: Any, raw: Any, where: str) -> Any:
    if raw is None:
        return base
    if not isinstance(raw, dict):
        raise PolicyError(f"{where} must be a mapping, got {raw!r}")
    known = {f.name: f for f in fields(base)}
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise PolicyError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
    return replace(base, **{name: _positive(f"{where}.{name}", value, type(getattr(base, name)))
                            for name, value in raw.items()})


def retry_policy_from(raw: Any, where: str, base: RetryPolicy | None = None) -> RetryPolicy:
    """``base`` (default: include/http.yaml's) with the keys of ``raw`` replaced, each checked."""
    return _overlay(base or http_settings().retry, raw, where)


def timeouts_from(raw: Any, where: str, base: Timeouts | None = None) -> Timeouts:
    return _overlay(base or http_settings().timeouts, raw, where)


@cache
def http_settings(path: Path = HTTP_FILE) -> HttpSettings:
    """The defaults every hook starts from; a missing file or key keeps the built-in value."""
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {}
    if not isinstance(raw or {}, dict):
        raise PolicyError(f"{path}: expected a mapping at the top level")
    raw = raw or {}
    return HttpSettings(retry=_overlay(RetryPolicy(), raw.get("retry"), f"{path}: retry"),
                        timeouts=_overlay(Timeouts(), raw.get("timeouts"), f"{path}: timeouts"))


__all__ = ["HttpSettings", "PolicyError", "RetryPolicy", "Timeouts", "http_settings", "retry_policy_from",
           "timeouts_from"]
