"""ISO 8601 timestamps as the LRS reads and writes them.

The LRS keeps ``stored`` as integer microseconds since the epoch so that ordering and
``since``/``until`` comparisons are exact, and renders it with microsecond precision
so a client that copies ``stored`` into ``since`` round-trips without loss.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# RFC 3339 / ISO 8601 combined date and time; fraction and offset optional.
_ISO_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$",
)


class TimestampError(ValueError):
    """A value that is not an ISO 8601 combined date and time."""


def parse_iso(value: str, *, require_offset: bool = False) -> datetime:
    """Parse an ISO 8601 timestamp; naive values are UTC unless ``require_offset``.

    xAPI 2.0 requires an explicit offset on statement timestamps; 1.0.3 only recommends it.
    """
    if isinstance(value, str) and "T" in value:
        # Fast path for the common well-formed case (Python 3.11 reads "Z" and 3/6-digit fractions).
        try:
            fast = datetime.fromisoformat(value)
        except ValueError:
            fast = None
        if fast is not None and fast.tzinfo is not None:
            return fast
    if not isinstance(value, str) or not _ISO_RE.match(value.strip()):
        raise TimestampError(f"{value!r} is not an ISO 8601 date-time (e.g. 2024-05-01T12:00:00Z)")
    text = value.strip().replace("Z", "+00:00")
    fraction = re.search(r"\.(\d+)", text)
    if fraction and len(fraction.group(1)) > 6:
        # Python keeps microseconds; truncating nanoseconds is what the spec allows (precision may be lost).
        text = text.replace(fraction.group(0), "." + fraction.group(1)[:6])
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TimestampError(f"{value!r} is not a valid date-time: {exc}") from exc
    if parsed.tzinfo is None:
        if require_offset:
            raise TimestampError(f"{value!r} has no timezone offset (xAPI 2.0 requires one)")
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def to_micros(moment: datetime) -> int:
    """Microseconds since the epoch, exact (no float rounding)."""
    delta = moment.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def iso_to_micros(value: str) -> int:
    return to_micros(parse_iso(value))


def micros_to_iso(micros: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for a microsecond epoch value."""
    seconds, micro = divmod(micros, 1_000_000)
    moment = datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micro)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_micros() -> int:
    return to_micros(datetime.now(UTC))
