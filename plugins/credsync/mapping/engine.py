"""Versioned field mappings: a CSV under include/mappings/ turns a nested source record into a flat row.

File name ``<name>_<version>.csv`` (e.g. ``hris_worker_v1.csv``); columns
exactly :data:`COLUMNS`. One CSV row maps one ``source_field`` (a dotted path
into the nested record, or the same dotted name as a flat CSV column) to one
``target_field``. ``transform`` chains named transforms with ``;``
(``trim;lowercase_email``); see :mod:`credsync.mapping.transforms`.
``data_type`` is checked after the transforms: string, date, timestamp,
integer, number, boolean, json.

Every error names the mapping file, its row (line number) and the field, and
for a record error also the record's position and key, so a rejected row can
be fixed at its source.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from credsync.mapping.transforms import Transform, TransformError, parse_iso8601, resolve
from credsync.paths import MAPPINGS_DIR

COLUMNS = (
    "source_system",
    "source_field",
    "target_field",
    "data_type",
    "transform",
    "required",
    "notes",
    "cardinality",
    "retention_policy",
)
DATA_TYPES = frozenset({"string", "date", "timestamp", "integer", "number", "boolean", "json"})
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0", ""})


class MappingError(ValueError):
    """A mapping file is invalid, or a record does not satisfy it.

    ``file`` and ``row`` locate the mapping rule (``row`` is the CSV line
    number, header = 1); ``field`` is the target field; ``record`` is the
    1-based position of the source record (None for a file error) and
    ``record_key`` its business key when known.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str,
        row: int | None,
        field: str | None,
        record: int | None = None,
        record_key: str | None = None,
    ) -> None:
        self.file, self.row, self.field = file, row, field
        self.record, self.record_key = record, record_key
        self.reason = message
        where = [file]
        if row is not None:
            where.append(f"row {row}")
        if field:
            where.append(f"field {field!r}")
        if record is not None:
            where.append(f"record {record}" + (f" ({record_key})" if record_key else ""))
        super().__init__(f"{', '.join(where)}: {message}")


@dataclass(frozen=True)
class FieldRule:
    """One row of a mapping CSV."""

    line: int
    source_system: str
    source_field: str
    target_field: str
    data_type: str
    transform_spec: str
    required: bool
    notes: str
    cardinality: str
    retention_policy: str
    transforms: tuple[Transform, ...]


@dataclass(frozen=True)
class FieldMapping:
    """A loaded, validated mapping: ``apply`` turns one nested record into a flat row."""

    name: str
    version: str
    path: Path
    rules: tuple[FieldRule, ...]

    @property
    def mapping_version(self) -> str:
        """What every loaded row records as its ``mapping_version``, e.g. ``hris_worker_v1``."""
        return f"{self.name}_{self.version}"

    @property
    def target_fields(self) -> list[str]:
        return [rule.target_field for rule in self.rules]

    def apply(self, record: MappingABC[str, Any], *, record_number: int | None = None,
              record_key: str | None = None) -> dict[str, Any]:
        """The flat row for ``record`` (target field → typed value), or :class:`MappingError`.

        ``record_number``/``record_key`` only label errors.
        """
        row: dict[str, Any] = {}
        for rule in self.rules:
            value = _lookup(record, rule.source_field)
            try:
                if isinstance(value, str) and not value.strip():
                    value = None
                for transform in rule.transforms:
                    value = transform(value)
                if value is None:
                    if rule.required:
                        raise TransformError(f"required source field {rule.source_field!r} is missing or blank")
                else:
                    value = _coerce(value, rule.data_type)
            except TransformError as exc:
                raise MappingError(
                    str(exc), file=self.path.name, row=rule.line, field=rule.target_field,
                    record=record_number, record_key=record_key,
                ) from None
            row[rule.target_field] = value
        return row


def mapping_path(name: str, version: str, directory: Path = MAPPINGS_DIR) -> Path:
    return directory / f"{name}_{version}.csv"


@cache
def load_mapping(name: str, version: str, directory: Path = MAPPINGS_DIR) -> FieldMapping:
    """Load and validate ``<directory>/<name>_<version>.csv`` (cached per process)."""
    path = mapping_path(name, version, directory)
    if not path.is_file():
        raise MappingError("mapping file not found", file=str(path), row=None, field=None)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise MappingError(
                f"header must be exactly {','.join(COLUMNS)} (got {','.join(reader.fieldnames or [])})",
                file=path.name, row=1, field=None,
            )
        rules = [_parse_rule(path, reader.line_num, raw) for raw in reader]
    if not rules:
        raise MappingError("mapping has no rules", file=path.name, row=None, field=None)
    seen: dict[str, int] = {}
    for rule in rules:
        if rule.target_field in seen:
            raise MappingError(
                f"target field already mapped on row {seen[rule.target_field]}",
                file=path.name, row=rule.line, field=rule.target_field,
            )
        seen[rule.target_field] = rule.line
    return FieldMapping(name=name, version=version, path=path, rules=tuple(rules))


def _parse_rule(path: Path, line: int, raw: dict[str, str | None]) -> FieldRule:
    cells = {key: (raw.get(key) or "").strip() for key in COLUMNS}
    target = cells["target_field"] or None
    for key in ("source_system", "source_field", "target_field", "data_type"):
        if not cells[key]:
            raise MappingError(f"column {key!r} is empty", file=path.name, row=line, field=target)
    if cells["data_type"] not in DATA_TYPES:
        raise MappingError(
            f"unknown data_type {cells['data_type']!r} (known: {', '.join(sorted(DATA_TYPES))})",
            file=path.name, row=line, field=target,
        )
    required = cells["required"].lower()
    if required not in _TRUE | _FALSE:
        raise MappingError(f"required must be true or false, got {cells['required']!r}",
                           file=path.name, row=line, field=target)
    transforms: list[Transform] = []
    for step in filter(None, (s.strip() for s in cells["transform"].split(";"))):
        try:
            transforms.append(resolve(step))
        except ValueError as exc:
            raise MappingError(str(exc), file=path.name, row=line, field=target) from None
    return FieldRule(
        line=line,
        source_system=cells["source_system"],
        source_field=cells["source_field"],
        target_field=cells["target_field"],
        data_type=cells["data_type"],
        transform_spec=cells["transform"],
        required=required in _TRUE,
        notes=cells["notes"],
        cardinality=cells["cardinality"],
        retention_policy=cells["retention_policy"],
        transforms=tuple(transforms),
    )


def _lookup(record: MappingABC[str, Any], dotted: str) -> Any:
    """A flat CSV column named ``a.b`` wins; otherwise walk the nested record."""
    if dotted in record:
        return record[dotted]
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, MappingABC) or part not in value:
            return None
        value = value[part]
    return value


def _coerce(value: Any, data_type: str) -> Any:
    """Check/convert a transformed value to ``data_type``; TransformError says what was wrong."""
    if data_type == "string":
        if isinstance(value, MappingABC | list):
            raise TransformError(f"expected text, got {type(value).__name__}")
        return str(value)
    if data_type in ("date", "timestamp"):
        parsed = parse_iso8601(value)
        if data_type == "date":
            if isinstance(parsed, datetime):
                raise TransformError(f"{value!r} is a timestamp, expected a date (YYYY-MM-DD)")
            return parsed
        if not isinstance(parsed, datetime):
            raise TransformError(f"{value!r} is a date, expected a timestamp with time zone")
        return parsed
    if data_type == "integer":
        if isinstance(value, bool):
            raise TransformError(f"{value!r} is a boolean, expected an integer")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise TransformError(f"{value!r} is not an integer") from None
        if number != number.to_integral_value():
            raise TransformError(f"{value!r} is not a whole number")
        return int(number)
    if data_type == "number":
        if isinstance(value, bool):
            raise TransformError(f"{value!r} is a boolean, expected a number")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise TransformError(f"{value!r} is not a number") from None
    if data_type == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE - {""}:
            return False
        raise TransformError(f"{value!r} is not true/false")
    if data_type == "json":
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise TransformError(f"{type(value).__name__} is not JSON-serialisable") from None
        return value
    raise TransformError(f"unknown data_type {data_type!r}")  # unreachable: validated at load

