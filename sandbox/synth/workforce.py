"""Synthetic workforce: Worker dicts in the HRIS contract shape (docs/architecture.md).

Worker ``i`` (1-based) is a pure function of ``(tenant_id, seed, i)``: a prefix
of a larger workforce is the smaller workforce, and any worker can be rebuilt
alone. Identity edge cases are ordinary data at the rates in :data:`RATES`
(per worker, independent draws unless noted):

- ``acquired``: record from the ``acquired_hris`` source, id prefix ``A``.
- ``contractor``: ``employment.type == "contractor"``.
- ``terminated`` / ``rehired`` / ``leave``: one exclusive status draw; a rehire
  is ``active`` with ``termination_date < rehire_date``.
- ``preferred_name``: ``name.preferred`` differs from ``name.given``.
- ``alias_email``: work email with a ``+tag`` (``given.family+lms@...``).
- ``mixed_case_email``: work email with capitals (``Given.Family@...``).
- ``duplicate_email``: a different person already holds this work email.
- ``cross_source_duplicate``: an ``acquired_hris`` record repeating the name
  and work email of an earlier ``hris_main`` worker (the same human, twice).
- ``no_personal_email``: ``emails.personal`` is null.

A national workforce (``Workforce(..., national=True)``, a Saudi deployment's HRIS; docs/national.md)
also carries each worker's ``national_id`` (10 digits: ``1`` a citizen's National ID, ``2`` a
resident's Iqama, at :data:`RESIDENT_SHARE`; a Luhn check digit, the rule
``credsync.mapping.national_id`` checks; distinct per worker) and the legal name in Arabic
(``name_ar``: ``given``, ``family``), the fields include/mappings/hris_worker_national_v1.csv reads.
Other workforces are unchanged.

Names come from Faker, seeded per tenant, drawn once into pools; each worker
then gets a distinct (given, family) pair from a bijection on its index, so
duplicate emails happen only where the rates say so.
"""

from __future__ import annotations

import functools
import itertools
import math
import random
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from faker import Faker

from sandbox.synth.seeds import (
    REFERENCE_DATE,
    cumulative_weights,
    derive_seed,
    fraction,
    pick,
    random_date,
    record_random,
    weighted_choice,
)

RATES: dict[str, float] = {
    "acquired": 0.10,
    "contractor": 0.08,
    "terminated": 0.07,
    "rehired": 0.02,
    "leave": 0.03,
    "preferred_name": 0.06,
    "alias_email": 0.03,
    "mixed_case_email": 0.05,
    "duplicate_email": 0.005,
    "cross_source_duplicate": 0.003,
    "no_personal_email": 0.15,
}
EDGE_CASES: tuple[str, ...] = tuple(RATES)

SOURCE_MAIN = "hris_main"
SOURCE_ACQUIRED = "acquired_hris"
#: Managers fan out to this many reports: worker i reports to worker i // FAN_OUT.
FAN_OUT = 8

_NAME_POOL_SIZE = 1500
# Several locales give enough distinct names for millions of unique pairs and
# realistic diacritics; one Faker per locale keeps the draw order deterministic
# (the multi-locale proxy picks locales with the global random module).
_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pl_PL")
# Coprime with the pool product (2^4 * 3^2 * 5^6), so index -> pair is a bijection.
_PAIR_STEP = 1_000_003

DEPARTMENTS: dict[str, tuple[str, ...]] = {
    "Warehouse": ("Warehouse associate", "Forklift operator", "Inventory clerk", "Shift lead"),
    "Manufacturing": ("Machine operator", "Line supervisor", "Quality inspector", "Maintenance technician"),
    "Logistics": ("Dispatcher", "Driver", "Logistics coordinator"),
    "Laboratory": ("Lab technician", "Chemist", "Lab manager"),
    "Health & Safety": ("Safety officer", "Occupational nurse"),
    "Facilities": ("Facilities technician", "Electrician"),
    "Customer Service": ("Service agent", "Team lead"),
    "Finance": ("Accountant", "Payroll specialist", "Controller"),
    "Human Resources": ("HR generalist", "Recruiter", "HR business partner"),
    "IT": ("Support engineer", "Systems administrator", "Software engineer"),
}
_DEPARTMENT_NAMES = tuple(DEPARTMENTS)
_DEPARTMENT_CUMULATIVE = cumulative_weights((24, 22, 14, 6, 4, 5, 8, 5, 5, 7))
_SALARY_BANDS = ("B1", "B2", "B3", "B4", "B5", "B6", "B7")
_SALARY_CUMULATIVE = cumulative_weights((10, 25, 25, 18, 12, 7, 3))
_ALIAS_TAGS = ("lms", "training", "hr", "work")
_PERSONAL_DOMAINS = ("mail.example", "post.example", "inbox.example")
_EARLIEST_HIRE = date(2004, 1, 1)
_SALT_SOURCE = 1
_SALT_CROSS = 2
_SALT_RESIDENT = 3
#: Share of a national workforce holding an Iqama (prefix 2) rather than a National ID (prefix 1).
RESIDENT_SHARE = 0.35
# The 8 digits between prefix and check digit: index -> body is a bijection on 10^8 (the step is
# coprime with 10), so no two workers share a national id.
_ID_BODY_SPACE = 10**8
_ID_BODY_STEP = 1_000_003


@dataclass(frozen=True)
class _Pools:
    given: tuple[str, ...]
    family: tuple[str, ...]
    locations: tuple[str, ...]
    #: name -> its email token, computed once instead of per worker.
    tokens: dict[str, str]


def _draw_unique(draw: Any, size: int) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    attempts = 0
    while len(seen) < size:
        attempts += 1
        if attempts > size * 50:
            raise RuntimeError(f"Faker yielded only {len(seen)} distinct values, {size} needed")
        value = draw()
        if _ascii_token(value):
            seen.setdefault(value, None)
    return tuple(seen)


@functools.lru_cache(maxsize=16)
def _pools(tenant_id: str, seed: int) -> _Pools:
    fakers = []
    for offset, locale in enumerate(_LOCALES):
        fake = Faker(locale)
        fake.seed_instance(derive_seed(tenant_id, seed, f"faker:{offset}"))
        # Faker's it_IT address provider builds its city list from a set, so the order (and the
        # city a seeded draw returns) follows the per-process hash salt; sorted, every sandbox
        # process draws the same cities.
        for provider in fake.get_providers():
            if isinstance(getattr(provider, "cities", None), list):
                provider.cities = sorted(provider.cities)
        fakers.append(fake)
    turn = itertools.count()

    def draw(attr: str) -> Any:
        return lambda: getattr(fakers[next(turn) % len(fakers)], attr)()

    given = _draw_unique(draw("first_name"), _NAME_POOL_SIZE)
    family = _draw_unique(draw("last_name"), _NAME_POOL_SIZE)
    return _Pools(
        given=given,
        family=family,
        locations=_draw_unique(draw("city"), 40),
        tokens={name: _ascii_token(name) for name in given + family},
    )


def _ascii_token(text: str) -> str:
    """Lowercase ASCII letters and digits only: what an email local part keeps of a name."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", folded.lower())


@functools.lru_cache(maxsize=1)
def _arabic_names() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Given and family names in Arabic script (Faker's ar_SA lists, in their published order)."""
    from faker.providers.person.ar_SA import Provider

    given = tuple(dict.fromkeys((*Provider.first_names_male, *Provider.first_names_female)))
    return given, tuple(dict.fromkeys(Provider.last_names))


class Workforce:
    """The synthetic workforce of one ``(tenant_id, seed)``; workers are built on demand.

    ``national``: the workers also carry a National ID / Iqama and an Arabic name (module docstring).
    """

    def __init__(self, tenant_id: str, seed: int, *, national: bool = False) -> None:
        self.tenant_id = tenant_id
        self.seed = seed
        self.national = national
        self.domain = f"{tenant_id}.example"
        self.pools = _pools(tenant_id, seed)
        self._base = derive_seed(tenant_id, seed, "worker")
        pairs = len(self.pools.given) * len(self.pools.family)
        self._pairs = pairs
        self._pair_offset = self._base % pairs
        if national:
            self._national_base = derive_seed(tenant_id, seed, "national")
            given_ar, family_ar = _arabic_names()
            self._pairs_ar = len(given_ar) * len(family_ar)
            self._pair_step_ar = next(s for s in itertools.count(_PAIR_STEP) if math.gcd(s, self._pairs_ar) == 1)

    # Cheap look-ups other workers need (manager ids, duplicated identities).

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - bounded, lives as long as the workforce
    def is_acquired(self, index: int) -> bool:
        """Whether worker ``index`` comes from the acquired HRIS (independent of any other draw)."""
        return fraction(self._base, index, _SALT_SOURCE) < RATES["acquired"] or self._is_cross_source(index)

    def _is_cross_source(self, index: int) -> bool:
        return index > 1 and fraction(self._base, index, _SALT_CROSS) < RATES["cross_source_duplicate"]

    def employee_id(self, index: int) -> str:
        """``E000001`` for the main HRIS, ``A000123`` for the acquired one."""
        return f"{'A' if self.is_acquired(index) else 'E'}{index:06d}"

    def name(self, index: int) -> tuple[str, str]:
        """The (given, family) pair of worker ``index``; distinct for every index below the pool product."""
        pair = (index * _PAIR_STEP + self._pair_offset) % self._pairs
        given = self.pools.given[pair % len(self.pools.given)]
        family = self.pools.family[pair // len(self.pools.given)]
        return given, family

    def national_id(self, index: int) -> str:
        """Worker ``index``'s National ID (``1...``) or Iqama (``2...``), with its Luhn check digit."""
        from stdnum import luhn

        resident = fraction(self._national_base, index, _SALT_RESIDENT) < RESIDENT_SHARE
        body = (index * _ID_BODY_STEP + self._national_base) % _ID_BODY_SPACE
        first_nine = f"{'2' if resident else '1'}{body:08d}"
        return first_nine + luhn.calc_check_digit(first_nine)

    def name_ar(self, index: int) -> dict[str, str]:
        """Worker ``index``'s legal (given, family) name in Arabic; distinct pairs like :meth:`name`."""
        given_ar, family_ar = _arabic_names()
        pair = (index * self._pair_step_ar + self._national_base) % self._pairs_ar
        return {"given": given_ar[pair % len(given_ar)], "family": family_ar[pair // len(given_ar)]}

    def plain_work_email(self, index: int) -> str:
        """``given.family@<tenant>.example``, with a round number once the name pairs run out."""
        given, family = self.name(index)
        round_suffix = index // self._pairs
        tokens = self.pools.tokens
        local = f"{tokens[given]}.{tokens[family]}{round_suffix or ''}"
        return f"{local}@{self.domain}"

    def manager_index(self, index: int) -> int | None:
        """An earlier worker, so the org chart is a tree rooted at worker 1."""
        return None if index == 1 else max(1, index // FAN_OUT)

    def _earlier_main_worker(self, index: int) -> int:
        candidate = index - 1
        while candidate > 1 and self.is_acquired(candidate):
            candidate -= 1
        return candidate

    # The worker itself.

    def worker(self, index: int) -> dict[str, Any]:
        """Worker ``index`` (1-based) as a contract-shaped dict."""
        return self.tagged_worker(index)[0]

    def tagged_worker(self, index: int) -> tuple[dict[str, Any], frozenset[str]]:
        """Worker ``index`` and the names of the edge cases it exhibits."""
        if index < 1:
            raise ValueError(f"worker index must be >= 1, got {index}")
        rng = record_random(self._base, index)
        tags: set[str] = set()
        acquired = self.is_acquired(index)
        if acquired:
            tags.add("acquired")

        given, family = self.name(index)
        work_email = self.plain_work_email(index)
        if self._is_cross_source(index):
            twin = self._earlier_main_worker(index)
            given, family = self.name(twin)
            work_email = self.plain_work_email(twin)
            tags.add("cross_source_duplicate")
        elif index > 1 and rng.random() < RATES["duplicate_email"]:
            work_email = self.plain_work_email(index - 1)
            tags.add("duplicate_email")
        else:
            work_email = self._styled_email(rng, work_email, given, family, tags)

        preferred = None
        if rng.random() < RATES["preferred_name"]:
            preferred = self._preferred(rng, given)
            tags.add("preferred_name")

        personal = None
        if rng.random() < RATES["no_personal_email"]:
            tags.add("no_personal_email")
        else:
            tokens = self.pools.tokens
            personal = f"{tokens[given]}{tokens[family]}{1 + int(rng.random() * 99)}@{pick(rng, _PERSONAL_DOMAINS)}"

        contractor = rng.random() < RATES["contractor"]
        if contractor:
            tags.add("contractor")
        status, hire, termination, rehire = self._employment_dates(rng, tags)
        department = weighted_choice(rng, _DEPARTMENT_NAMES, _DEPARTMENT_CUMULATIVE)
        titles = DEPARTMENTS[department]
        manager = self.manager_index(index)
        worker = {
            "employee_id": self.employee_id(index),
            "source_system": SOURCE_ACQUIRED if acquired else SOURCE_MAIN,
            "name": {"given": given, "family": family, "preferred": preferred},
            "emails": {"work": work_email, "personal": personal},
            "employment": {
                "status": status,
                "type": "contractor" if contractor else "employee",
                "hire_date": hire.isoformat(),
                "termination_date": termination.isoformat() if termination else None,
                "rehire_date": rehire.isoformat() if rehire else None,
                "department": department,
                "job_title": pick(rng, titles),
                "manager_id": self.employee_id(manager) if manager else None,
                "location": pick(rng, self.pools.locations),
                # Effective since hire: day-0 workers have no status or job change pending.
                "status_effective_date": None,
                "job_effective_date": None,
            },
            "compensation": {"salary_band": weighted_choice(rng, _SALARY_BANDS, _SALARY_CUMULATIVE)},
            "updated_at": f"{max(d for d in (hire, termination, rehire) if d).isoformat()}T09:00:00Z",
        }
        if self.national:
            # Drawn apart from the record's random stream, so the other fields are those of the plain workforce.
            worker["national_id"] = self.national_id(index)
            worker["name_ar"] = self.name_ar(index)
        return worker, frozenset(tags)

    def _styled_email(self, rng: random.Random, email: str, given: str, family: str, tags: set[str]) -> str:
        local, domain = email.split("@")
        if rng.random() < RATES["alias_email"]:
            local = f"{local}+{pick(rng, _ALIAS_TAGS)}"
            tags.add("alias_email")
        if rng.random() < RATES["mixed_case_email"]:
            local = ".".join(part.capitalize() for part in local.split("."))
            tags.add("mixed_case_email")
        return f"{local}@{domain}"

    def _preferred(self, rng: random.Random, given: str) -> str:
        # A short form when the name has one, otherwise a different name altogether
        # (a chosen name after a name change): both must differ from the given name.
        if len(given) >= 6 and rng.random() < 0.5:
            return given[:4]
        while True:
            other = pick(rng, self.pools.given)
            if other != given:
                return other

    def _employment_dates(
        self, rng: random.Random, tags: set[str]
    ) -> tuple[str, date, date | None, date | None]:
        roll = rng.random()
        latest = REFERENCE_DATE - timedelta(days=7)
        if roll < RATES["terminated"]:
            tags.add("terminated")
            hire = random_date(rng, _EARLIEST_HIRE, latest - timedelta(days=60))
            termination = random_date(rng, hire + timedelta(days=30), latest)
            return "terminated", hire, termination, None
        roll -= RATES["terminated"]
        if roll < RATES["rehired"]:
            tags.add("rehired")
            hire = random_date(rng, _EARLIEST_HIRE, latest - timedelta(days=400))
            termination = random_date(rng, hire + timedelta(days=180), latest - timedelta(days=120))
            rehire = random_date(rng, termination + timedelta(days=30), latest)
            return "active", hire, termination, rehire
        roll -= RATES["rehired"]
        hire = random_date(rng, _EARLIEST_HIRE, latest)
        if roll < RATES["leave"]:
            tags.add("leave")
            return "leave", hire, None, None
        return "active", hire, None, None

    def iter_tagged(self, count: int, start: int = 1) -> Iterator[tuple[int, dict[str, Any], frozenset[str]]]:
        """(index, worker, edge cases) for workers ``start`` .. ``count``."""
        for index in range(start, count + 1):
            worker, tags = self.tagged_worker(index)
            yield index, worker, tags


def iter_workers(tenant_id: str, count: int, seed: int, *, national: bool = False) -> Iterator[dict[str, Any]]:
    """Stream ``count`` workers of a tenant; memory stays flat whatever ``count`` is."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    for _, worker, _ in Workforce(tenant_id, seed, national=national).iter_tagged(count):
        yield worker


def edge_case_ids(tenant_id: str, count: int, seed: int, limit: int = 5) -> dict[str, list[str]]:
    """Up to ``limit`` employee ids per edge case (see :data:`RATES`) among the first ``count`` workers.

    Every edge case is a key, so a case that the workforce is too small to
    contain shows up as an empty list rather than a missing key.
    """
    found: dict[str, list[str]] = {case: [] for case in EDGE_CASES}
    for _, worker, tags in Workforce(tenant_id, seed).iter_tagged(count):
        for tag in tags:
            if len(found[tag]) < limit:
                found[tag].append(worker["employee_id"])
        if all(len(ids) >= limit for ids in found.values()):
            break
    return found
