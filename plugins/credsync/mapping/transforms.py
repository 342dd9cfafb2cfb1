"""Named value transforms a mapping CSV may chain in its ``transform`` column.

A transform takes one value (already ``None`` for a missing or blank source
field) and returns the new value, or raises :class:`TransformError` with a
short reason; the engine adds file, row and field to it. ``None`` passes
through every transform unchanged so optional fields stay optional.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from typing import Any

Transform = Callable[[Any], Any]


class TransformError(ValueError):
    """A value could not be transformed; the message says why, without naming the field."""


def trim(value: Any) -> Any:
    """Strip surrounding whitespace; an empty result becomes ``None`` (a blank is a missing value)."""
    if value is None or not isinstance(value, str):
        return value
    stripped = value.strip()
    return stripped or None


def lowercase_email(value: Any) -> Any:
    """Trim and lowercase an email address (the whole address: mailbox providers ignore case)."""
    value = trim(value)
    return value.lower() if isinstance(value, str) else value


def strip_email_alias(value: Any) -> Any:
    """Drop a ``+tag`` sub-address from the local part: ``ann+lms@x.org`` → ``ann@x.org``.

    Used for the normalised email that matching compares; never for the key.
    """
    if not isinstance(value, str) or "@" not in value:
        return value
    local, _, domain = value.rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


def parse_iso8601(value: Any) -> Any:
    """An ISO 8601 date (``YYYY-MM-DD``) or timestamp (``Z`` or offset) → ``date`` / aware ``datetime``.

    Naive timestamps are rejected: a source that omits the zone would be read
    in the worker's local time by one system and UTC by another.
    """
    if value is None or isinstance(value, datetime | date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        if len(text) == 10:
            return date.fromisoformat(text)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise TransformError(f"{text!r} is not an ISO 8601 date or timestamp") from exc
    if parsed.tzinfo is None:
        raise TransformError(f"{text!r} has no time zone (expected Z or an offset)")
    return parsed.astimezone(UTC)


def normalize_score_0_100(value: Any) -> Any:
    """A score on a 0..100 scale.

    Accepts an xAPI/SCORM score object (``scaled`` in -1..1 wins, else
    ``raw`` within ``min``..``max``) or a plain number already on 0..100.
    """
    if value is None:
        return None
    if isinstance(value, Mapping):
        scaled = value.get("scaled")
        if scaled is not None:
            number = _number(scaled) * 100
        else:
            raw, low, high = value.get("raw"), value.get("min", 0), value.get("max", 100)
            if raw is None:
                return None
            low_n, high_n = _number(low), _number(high)
            if high_n <= low_n:
                raise TransformError(f"score range min={low!r} max={high!r} is empty")
            number = (_number(raw) - low_n) / (high_n - low_n) * 100
    else:
        number = _number(value)
    if not 0 <= number <= 100:
        raise TransformError(f"score {value!r} is outside 0..100 after normalising ({number:g})")
    return round(number, 4)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise TransformError(f"{value!r} is not a number") from exc


def enum_map(spec: str) -> Transform:
    """Build the transform for ``enum:src=dst|src2=dst2``: source values map case-insensitively.

    A value outside the map is an error, not a pass-through, so a new HRIS
    status cannot slip into ``core`` unnoticed.
    """
    pairs: dict[str, str] = {}
    for item in spec.split("|"):
        source, sep, target = item.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ValueError(f"enum entry {item!r} must look like source=target")
        pairs[source.strip().lower()] = target.strip()
    allowed = ", ".join(sorted(pairs))

    def apply(value: Any) -> Any:
        if value is None:
            return None
        key = str(value).strip().lower()
        if key not in pairs:
            raise TransformError(f"{value!r} is not one of the mapped values ({allowed})")
        return pairs[key]

    return apply


NAMED: dict[str, Transform] = {
    "trim": trim,
    "lowercase_email": lowercase_email,
    "strip_email_alias": strip_email_alias,
    "parse_iso8601": parse_iso8601,
    "normalize_score_0_100": normalize_score_0_100,
}

_EMAIL_SHAPE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def looks_like_email(value: str) -> bool:
    """The same loose shape check the GX gate applies in SQL (kept here for the webhook path)."""
    return bool(_EMAIL_SHAPE.match(value))


def resolve(spec: str) -> Transform:
    """The transform named by one step of a ``transform`` cell; ``ValueError`` if unknown."""
    spec = spec.strip()
    if spec.startswith("enum:"):
        return enum_map(spec[len("enum:") :])
    try:
        return NAMED[spec]
    except KeyError:
        known = ", ".join([*sorted(NAMED), "enum:a=b|c=d"])
        raise ValueError(f"unknown transform {spec!r} (known: {known})") from None
