"""The mappings' ``retention_policy`` column, machine-readable: anchor event + period, action, legal basis.

One cell holds one clause per layer, separated by ``;``::

    termination + 7 years then pseudonymise (basis: employment records - tenant HR retention schedule);
    staging: batch + 90 days then purge (basis: data minimisation - raw batches serve replay only)

(one line in the CSV cell).

A clause is ``[<layer>:] <anchor> + <N> <unit> then <action> (basis: <text>)``:

- layer: ``core`` (the default), ``staging`` (the raw batch copies), ``audit`` (quarantined
  copies of the records in ``audit.quarantine``). Each layer names the anchors that mean
  something there: core ``termination`` (the worker's termination date, once terminated and
  not rehired) or ``completion`` (the completion's time); staging and audit ``batch`` (the
  batch's creation time).
- unit: ``day(s)``, ``month(s)``, ``year(s)``; N a whole number from 1.
- action: ``purge`` (rows deleted, or for a worker erased everywhere; audit payloads are
  tombstoned, never deleted) or ``pseudonymise`` (kept with the person replaced by a
  reversible pseudonym, credsync.governance.pseudonymise).
- basis: why the data is kept that long (a law, a contract, a purpose), required.
- ``external (basis: ...)`` in place of anchor, period and action: the target system (the
  registry) keeps the data under its own policy; credsync holds none of it to purge.

Every row of a mapping declares its policy; the rows of one file must agree on each layer's
anchor and action (one record is purged as a whole), and the longest period of a layer
applies to the file. A bad cell raises :class:`credsync.mapping.engine.MappingError`, which
names the file, row and rule (``retention_policy``). Plain Python, no Airflow, no database.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from dateutil.relativedelta import relativedelta

from credsync.mapping.engine import MappingError
from credsync.paths import MAPPINGS_DIR

RULE = "retention_policy"
LAYERS: Mapping[str, frozenset[str]] = {
    "core": frozenset({"termination", "completion"}),
    "staging": frozenset({"batch"}),
    "audit": frozenset({"batch"}),
}
ACTIONS = frozenset({"purge", "pseudonymise"})
_UNITS = {"day": "days", "days": "days", "month": "months", "months": "months", "year": "years",
          "years": "years"}
_CLAUSE = re.compile(
    r"^(?:(?P<layer>[a-z]+)\s*:\s*)?"
    r"(?:(?P<external>external)"
    r"|(?P<anchor>[a-z_]+)\s*\+\s*(?P<n>\d+)\s+(?P<unit>[a-z]+)\s+then\s+(?P<action>[a-z]+))"
    r"\s*\(\s*basis\s*:\s*(?P<basis>[^()]*\S)\s*\)$"
)


@dataclass(frozen=True)
class Period:
    """``amount`` ``unit`` (days, months or years), added calendar-wise (29 Feb + 1 year = 28 Feb)."""

    amount: int
    unit: str

    def after(self, moment: datetime) -> datetime:
        return moment + relativedelta(**{self.unit: self.amount})

    def before(self, moment: datetime) -> datetime:
        """The latest anchor time whose period is over at ``moment``."""
        return moment - relativedelta(**{self.unit: self.amount})

    def approx(self) -> timedelta:
        """For comparing periods of different units (the longest one applies)."""
        per = {"days": 1, "months": 31, "years": 366}[self.unit]
        return timedelta(days=self.amount * per)

    def __str__(self) -> str:
        return f"{self.amount} {self.unit[:-1] if self.amount == 1 else self.unit}"


@dataclass(frozen=True)
class Clause:
    """One layer's rule: data anchored at ``anchor`` expires ``period`` later and is then ``action``-ed."""

    layer: str
    anchor: str | None
    period: Period | None
    action: str | None
    basis: str

    @property
    def external(self) -> bool:
        return self.anchor is None

    def __str__(self) -> str:
        head = "external" if self.external else f"{self.anchor} + {self.period} then {self.action}"
        return f"{self.layer}: {head} (basis: {self.basis})"


def _split(cell: str) -> list[str]:
    # ';' separates clauses, but not inside a basis' parentheses.
    parts, depth, current = [], 0, []
    for char in cell:
        depth += char == "("
        depth -= char == ")"
        if char == ";" and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return [p.strip() for p in parts]


def parse_policy(cell: str, *, file: str = "<policy>", row: int | None = None,
                 field: str | None = None) -> dict[str, Clause]:
    """The clauses of one ``retention_policy`` cell by layer; :class:`MappingError` if it is not valid."""

    def bad(reason: str) -> MappingError:
        return MappingError(f"retention_policy {cell!r}: {reason}", file=file, row=row, field=field, rule=RULE)

    if not cell or not cell.strip():
        raise bad("is empty (every mapped field needs a retention policy with a legal basis)")
    clauses: dict[str, Clause] = {}
    for text in _split(cell.strip()):
        match = _CLAUSE.match(text.lower()) if text else None
        if match is None:
            raise bad(f"clause {text!r} is not '[layer:] <anchor> + <N> <days|months|years> then"
                      " <purge|pseudonymise> (basis: <legal basis>)' or '[layer:] external (basis: ...)'")
        layer = match["layer"] or "core"
        if layer not in LAYERS:
            raise bad(f"unknown layer {layer!r} (known: {', '.join(LAYERS)})")
        if layer in clauses:
            raise bad(f"two clauses for layer {layer!r}")
        # The basis keeps its case; the rest was matched lowercased.
        basis = re.search(r"\(\s*basis\s*:\s*(.*\S)\s*\)\s*$", text, re.IGNORECASE)[1]
        if match["external"]:
            clauses[layer] = Clause(layer, None, None, None, basis)
            continue
        anchor, unit, action = match["anchor"], match["unit"], match["action"]
        if anchor not in LAYERS[layer]:
            raise bad(f"anchor {anchor!r} means nothing in layer {layer!r} (known: {', '.join(sorted(LAYERS[layer]))})")
        if unit not in _UNITS:
            raise bad(f"unknown unit {unit!r} (days, months or years)")
        amount = int(match["n"])
        if amount < 1 or amount > 200:
            raise bad(f"period {amount} {unit} is out of range (1 to 200)")
        if action not in ACTIONS:
            raise bad(f"unknown action {action!r} (purge or pseudonymise)")
        if layer != "core" and action != "purge":
            raise bad(f"layer {layer!r} only purges (its copies are not kept under a pseudonym)")
        clauses[layer] = Clause(layer, anchor, Period(amount, _UNITS[unit]), action, basis)
    return clauses


@dataclass(frozen=True)
class FilePolicy:
    """What one mapping file's rows say, per layer (the longest period of each layer applies)."""

    file: str
    layers: Mapping[str, Clause]


def load_file_policy(path: Path) -> FilePolicy:
    """Parse and check every row's policy of one mapping CSV; the rows must agree per layer."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if "retention_policy" not in (reader.fieldnames or ()):
            raise MappingError("has no retention_policy column", file=path.name, row=1, field=None, rule=RULE)
        chosen: dict[str, tuple[int, Clause]] = {}
        for line, raw in enumerate(reader, start=2):
            field = (raw.get("target_field") or "").strip() or None
            for layer, clause in parse_policy(raw.get("retention_policy") or "", file=path.name, row=line,
                                              field=field).items():
                if layer not in chosen:
                    chosen[layer] = (line, clause)
                    continue
                first_line, first = chosen[layer]
                if (first.anchor, first.action) != (clause.anchor, clause.action):
                    raise MappingError(
                        f"retention_policy: layer {layer!r} reads {clause} here but {first} in row {first_line}"
                        " (one record is purged as a whole: the rows must agree on anchor and action)",
                        file=path.name, row=line, field=field, rule=RULE)
                if clause.period and first.period and clause.period.approx() > first.period.approx():
                    chosen[layer] = (line, clause)
    if not chosen:
        raise MappingError("has no rows to take a retention policy from", file=path.name, row=None, field=None,
                           rule=RULE)
    return FilePolicy(path.name, {layer: clause for layer, (_, clause) in chosen.items()})


def load_policies(names: Iterable[str], directory: Path = MAPPINGS_DIR) -> dict[str, FilePolicy]:
    """The policies of the named mapping files (all parsed before any is used: one bad file stops the run)."""
    return {name: load_file_policy(directory / name) for name in names}
