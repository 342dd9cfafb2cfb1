"""Timestamps as integer microseconds: exact to compare, exact to round-trip through ISO text.

The HRIS stamps every change with :class:`MonotonicClock`, so ``updated_at``
is strictly increasing even for changes in the same second, and a snapshot
instant (``as_of``) splits changes cleanly into before and after.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_iso(micros: int) -> str:
    """``2026-11-01T09:30:00.123456Z`` (always six fraction digits, so text order is time order)."""
    seconds, fraction = divmod(micros, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:06d}Z"


def parse_iso(text: str) -> int:
    """Microseconds since the epoch of an ISO-8601 date or timestamp; naive values count as UTC.

    Raises ``ValueError`` naming the value when it is not ISO-8601.
    """
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class MonotonicClock:
    """Wall-clock microseconds that never repeat or go back. Callers serialise access."""

    def __init__(self, floor: int = 0) -> None:
        self._last = floor

    def reserve(self, count: int = 1) -> int:
        """The first of ``count`` consecutive fresh instants, all later than any handed out before."""
        first = max(time.time_ns() // 1000, self._last + 1)
        self._last = first + count - 1
        return first
