"""Stable seeds and per-record random streams.

Python's ``hash()`` is salted per process, so seeds come from BLAKE2b instead:
the same ``(tenant_id, seed, purpose)`` gives the same numbers on every machine.
Each record gets its own :class:`random.Random`, seeded from its index, so any
record can be regenerated alone (the day-N changes need that) and adding
records never shifts the earlier ones.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

#: Day 0 of every synthetic tenant. Generated dates and timestamps lie before it,
#: day-N changes after it; nothing reads the wall clock, so output is reproducible.
REFERENCE_DATE = date(2026, 11, 1)
REFERENCE_INSTANT = datetime(2026, 11, 1, tzinfo=UTC)


def derive_seed(tenant_id: str, seed: int, purpose: str) -> int:
    """A 64-bit seed for one generator (``purpose``) of one tenant."""
    digest = hashlib.blake2b(f"{tenant_id}\x1f{seed}\x1f{purpose}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def record_random(base: int, index: int) -> random.Random:
    """The random stream of record ``index`` under a derived ``base`` seed."""
    return random.Random((base << 40) + index)


_MASK64 = (1 << 64) - 1


def fraction(base: int, index: int, salt: int) -> float:
    """A uniform number in [0, 1) for one decision about one record, without a Random.

    Used where other records look the decision up (e.g. a manager's id prefix),
    so the look-up costs a few integer operations (SplitMix64 finaliser) instead
    of seeding a generator.
    """
    z = (base + index * 0x9E3779B97F4A7C15 + salt * 0xD1B54A32D192ED03) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) / 2**64


def weighted_choice(rng: random.Random, options: tuple[str, ...], cumulative: tuple[float, ...]) -> str:
    """``rng.choices`` for one pick with precomputed cumulative weights (it is on the hot path)."""
    return options[bisect.bisect_right(cumulative, rng.random() * cumulative[-1])]


def cumulative_weights(weights: tuple[int, ...]) -> tuple[float, ...]:
    """Running totals of ``weights`` for :func:`weighted_choice`."""
    return tuple(itertools.accumulate(float(w) for w in weights))


def pick(rng: random.Random, options: tuple[Any, ...] | list[Any]) -> Any:
    """A uniform pick; cheaper than ``rng.choice`` on the hot path."""
    return options[int(rng.random() * len(options))]


def day_date(day: int) -> date:
    """The calendar date of synthetic day ``day`` (day 0 is :data:`REFERENCE_DATE`)."""
    return REFERENCE_DATE + timedelta(days=day)


def random_date(rng: random.Random, start: date, end: date) -> date:
    """A uniform date in ``[start, end]`` (``start`` if the range is empty)."""
    first = start.toordinal()
    span = end.toordinal() - first
    return date.fromordinal(first + int(rng.random() * (span + 1))) if span > 0 else start


def iso_z(instant: datetime, *, millis: bool = False) -> str:
    """UTC ISO-8601 with a ``Z`` suffix, to the second or millisecond."""
    instant = instant.astimezone(UTC)
    if millis:
        return instant.strftime("%Y-%m-%dT%H:%M:%S.") + f"{instant.microsecond // 1000:03d}Z"
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")
