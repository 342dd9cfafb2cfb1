"""Day-N changes to the day-0 workforce, so a delta export carries real edge cases.

Day ``d`` (>= 1) touches a pseudo-random 1/:data:`STRIPES` of the day-0
workforce, disjoint from every other day in ``1 .. STRIPES``, so applying days
in any order never makes one day undo another. What happens to a worker
depends on its day-0 status:

- terminated -> ``rehire``; on leave -> ``return``;
- active -> ``terminate`` / ``email_change`` / ``name_change`` / ``transfer`` /
  ``manager_change`` / ``leave`` (weights in :data:`ACTIVE_CHANGE_WEIGHTS`).

Plus :func:`hires_per_day` new workers (``kind == "hire"``) with ids after
the day-0 range, distinct per day. Each change carries the full new Worker
dict; dates are ``REFERENCE_DATE + d`` days.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from typing import Any

from sandbox.synth.seeds import cumulative_weights, day_date, derive_seed, pick, record_random, weighted_choice
from sandbox.synth.workforce import DEPARTMENTS, SOURCE_MAIN, Workforce

STRIPES = 50
ACTIVE_CHANGE_KINDS = ("terminate", "email_change", "name_change", "transfer", "manager_change", "leave")
ACTIVE_CHANGE_WEIGHTS = (25, 15, 15, 15, 15, 15)
_ACTIVE_CUMULATIVE = cumulative_weights(ACTIVE_CHANGE_WEIGHTS)
CHANGE_KINDS = ("hire", "rehire", "return", *ACTIVE_CHANGE_KINDS)
_PERMUTATION_STEPS = (1_000_003, 999_983, 1_299_709, 15_485_863)


def hires_per_day(count: int) -> int:
    """New hires each day: 0.2% of the day-0 workforce, at least two."""
    return max(2, count // 500)


def _permutation_step(count: int) -> int:
    return next(step for step in _PERMUTATION_STEPS if math.gcd(step, count) == 1)


def _changed_indices(base: int, count: int, day: int) -> Iterator[int]:
    """Indices ``i`` whose permuted position falls in this day's stripe.

    ``position = (i - 1) * step + offset (mod count)`` is a bijection, so
    walking the stripe's positions and inverting gives the day's workers
    without touching the rest of the workforce.
    """
    step = _permutation_step(count)
    inverse = pow(step, -1, count)
    offset = base % count
    for position in range((day - 1) % STRIPES, count, STRIPES):
        yield (position - offset) * inverse % count + 1


def iter_changes(tenant_id: str, count: int, seed: int, day: int, *,
                 national: bool = False) -> Iterator[dict[str, Any]]:
    """The day-``day`` mutations of the ``count``-worker workforce of ``(tenant_id, seed)``.

    Yields ``{"kind", "employee_id", "worker"}``; ``worker`` is the complete new
    Worker dict (``updated_at`` set to the change's day, the HRIS restamps it).
    ``national``: the workforce carries national ids and Arabic names (``Workforce``), so do the changes.
    """
    if day < 1:
        raise ValueError(f"day must be >= 1 (day 0 is the seeded workforce), got {day}")
    if count < 1:
        return
    workforce = Workforce(tenant_id, seed, national=national)
    base = derive_seed(tenant_id, seed, f"changes:{day}")
    when = day_date(day).isoformat()
    for index in _changed_indices(base, count, day):
        rng = record_random(base, index)
        worker = copy.deepcopy(workforce.worker(index))
        kind = _apply_change(workforce, rng, worker, index, when)
        worker["updated_at"] = f"{when}T09:00:00Z"
        yield {"kind": kind, "employee_id": worker["employee_id"], "worker": worker}
    hires = hires_per_day(count)
    first_new = count + (day - 1) * hires + 1
    for index in range(first_new, first_new + hires):
        yield {"kind": "hire", "employee_id": f"E{index:06d}", "worker": _new_hire(workforce, index, when)}


def _apply_change(workforce: Workforce, rng: Any, worker: dict[str, Any], index: int, when: str) -> str:
    employment = worker["employment"]
    if employment["status"] == "terminated":
        employment.update(status="active", rehire_date=when)
        return "rehire"
    if employment["status"] == "leave":
        employment.update(status="active", status_effective_date=when)
        return "return"
    kind = weighted_choice(rng, ACTIVE_CHANGE_KINDS, _ACTIVE_CUMULATIVE)
    if kind == "terminate":
        employment.update(status="terminated", termination_date=when)
    elif kind == "leave":
        employment.update(status="leave", status_effective_date=when)
    elif kind == "email_change":
        # A new address style (first initial), as after a mail-system migration.
        given, family = worker["name"]["given"], worker["name"]["family"]
        tokens = workforce.pools.tokens
        worker["emails"]["work"] = f"{tokens[given][:1]}{tokens[family]}{index}@{workforce.domain}"
    elif kind == "name_change":
        # A family-name change (marriage, divorce); the work email stays until IT catches up.
        current = worker["name"]["family"]
        worker["name"]["family"] = _pick_other(rng, workforce.pools.family, current)
    elif kind == "transfer":
        department = _pick_other(rng, tuple(DEPARTMENTS), employment["department"])
        employment.update(
            department=department,
            job_title=pick(rng, DEPARTMENTS[department]),
            location=pick(rng, workforce.pools.locations),
            manager_id=workforce.employee_id(1 + int(rng.random() * (index - 1))) if index > 1 else None,
            job_effective_date=when,
        )
    elif kind == "manager_change":
        if index <= 2:
            # Too early in the org chart to have another earlier manager: leave instead.
            employment.update(status="leave", status_effective_date=when)
            return "leave"
        earlier = [workforce.employee_id(1 + int(rng.random() * (index - 1))) for _ in range(8)]
        # Eight draws from the earlier workers: at least one differs unless index is tiny.
        employment["manager_id"] = next((m for m in earlier if m != employment["manager_id"]), earlier[0])
    return kind


def _pick_other(rng: Any, options: tuple[str, ...], current: str) -> str:
    """A uniform pick among ``options`` other than ``current``."""
    others = [option for option in options if option != current]
    return pick(rng, others)


def _new_hire(workforce: Workforce, index: int, when: str) -> dict[str, Any]:
    """A worker built like the day-0 ones, then made a fresh main-HRIS hire on ``when``."""
    worker = copy.deepcopy(workforce.worker(index))
    worker["employee_id"] = f"E{index:06d}"
    worker["source_system"] = SOURCE_MAIN
    worker["employment"].update(
        status="active", type="employee", hire_date=when, termination_date=None, rehire_date=None
    )
    worker["updated_at"] = f"{when}T09:00:00Z"
    return worker
