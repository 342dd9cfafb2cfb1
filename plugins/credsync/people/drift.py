"""Schema drift of an HRIS extract: source fields the mapping expects but did not get, and fields it does not know.

The rule (docs/runbook.md, "A rejected HRIS batch"):

- **CSV file drop** (a fixed layout): the header must carry every column the mapping reads
  and nothing else besides the declared ``ignored_source_fields``. A missing column would
  blank that field for every worker; an unknown one is usually a renamed column. Either
  rejects the batch.
- **JSON (REST export)**: a *required* source field absent from a record (the key itself,
  not a null value) rejects the batch. An unknown field alone is tolerated: APIs grow
  additively; it is recorded on the batch and logged. An optional field absent alone is
  tolerated too (an API may omit nulls). Both together in one extract (a mapped field gone
  and an unknown one arrived) look like a rename and reject the batch.

Plain Python, no Airflow: staging calls :meth:`DriftCheck.observe` per record.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from credsync.mapping import FieldMapping
from credsync.mapping.engine import find_path

EXAMPLES = 3


@dataclass(frozen=True)
class SchemaDrift:
    """What an extract's shape lacked or added; ``blocking`` means the gate rejects the batch."""

    layout: str
    records: int
    missing_required: dict[str, int]
    missing_optional: dict[str, int]
    unknown: dict[str, int]
    examples: dict[str, list[str]]
    blocking: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def reason(self) -> str:
        """One line naming the fields, e.g. ``schema_drift (csv header): missing required columns …``."""
        noun = "columns" if self.layout == "csv" else "fields"
        parts = []
        for label, fields in (("missing required", self.missing_required),
                              ("missing", self.missing_optional), ("unknown", self.unknown)):
            if fields:
                parts.append(f"{label} {noun} " + ", ".join(self._describe(name, n) for name, n in fields.items()))
        where = "csv header" if self.layout == "csv" else f"json, {self.records} records"
        verdict = "" if self.blocking else " (tolerated)"
        return f"schema_drift ({where}){verdict}: " + "; ".join(parts)

    def _describe(self, name: str, count: int) -> str:
        if not name.isprintable() or name.strip() != name:
            name = repr(name)  # a BOM or a stray space in a header must be visible
        if self.layout == "csv":
            return name
        examples = self.examples.get(name)
        text = f"{name} ({count} of {self.records} records"
        return text + (f", e.g. {', '.join(examples)})" if examples else ")")


@dataclass
class DriftCheck:
    """Accumulates the shape of one extract; ``columns`` set means a CSV with that header."""

    mapping: FieldMapping
    ignored: frozenset[str] = frozenset()
    columns: Sequence[str | None] | None = None
    records: int = 0
    _missing: Counter[str] = field(default_factory=Counter)
    _unknown: Counter[str] = field(default_factory=Counter)
    _examples: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.mapped = tuple(dict.fromkeys(rule.source_field for rule in self.mapping.rules))
        self.required = frozenset(rule.source_field for rule in self.mapping.rules if rule.required)
        self.known = frozenset(self.mapped) | frozenset(self.ignored)
        # Containers of known fields ("name" of "name.given") are not unknown leaves.
        self.prefixes = frozenset(p.rsplit(".", i)[0] for p in self.known for i in range(1, p.count(".") + 1))

    def observe(self, record: Mapping[str, Any], key: str | None = None) -> None:
        """Note one record's fields (JSON layout only; a CSV is judged on its header)."""
        self.records += 1
        if self.columns is not None or not isinstance(record, Mapping):
            return
        paths = set(_leaf_paths(record))
        for name in self.mapped:
            if name not in paths and not _present(record, name):
                self._note(self._missing, name, key)
        for path in paths:
            if path not in self.known and path not in self.prefixes:
                self._note(self._unknown, path, key)

    def result(self) -> SchemaDrift | None:
        """The drift found, or None when the extract has exactly the expected shape."""
        if self.columns is not None:
            header = [c or "<unnamed>" for c in self.columns]
            missing = Counter({name: self.records for name in self.mapped if name not in header})
            unknown = Counter({name: self.records for name in header if name not in self.known})
        else:
            missing, unknown = self._missing, self._unknown
        missing_required = {n: c for n, c in missing.items() if n in self.required}
        missing_optional = {n: c for n, c in missing.items() if n not in self.required}
        if not (missing or unknown):
            return None
        # A CSV layout is fixed; JSON drift blocks on a required field gone or a rename.
        blocking = self.columns is not None or bool(missing_required) or bool(missing_optional and unknown)
        return SchemaDrift(
            layout="csv" if self.columns is not None else "json", records=self.records,
            missing_required=missing_required, missing_optional=missing_optional,
            unknown=dict(sorted(unknown.items())), examples=dict(self._examples), blocking=blocking,
        )

    def _note(self, counter: Counter[str], name: str, key: str | None) -> None:
        counter[name] += 1
        examples = self._examples.setdefault(name, [])
        if key and len(examples) < EXAMPLES:
            examples.append(key)


def _leaf_paths(value: Mapping[Any, Any], prefix: str = "") -> Iterable[str]:
    for key, child in value.items():
        path = f"{prefix}{key}"
        if isinstance(child, Mapping) and child:
            yield from _leaf_paths(child, path + ".")
        else:
            yield path


def _present(record: Mapping[str, Any], dotted: str) -> bool:
    """The key exists (a null value counts as present): a flat dotted key, or the nested path."""
    return find_path(record, dotted)[0]
