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
be fixed at its source, and carries the stable name of the rule that failed
(``err.rule``) for the quarantine row.

Whatever a mapping declares, every value is also held to checks no mapping
can switch off, before its transforms (on the source value, including strings
nested in objects) and after them (on what is emitted):

- no control characters: NUL, C0/C1 controls, DEL, line/paragraph separators,
  bidi overrides (rule ``control_characters``); no lone surrogates
  (``invalid_unicode``). Postgres refuses NUL, and the rest forge CSV cells,
  log lines and displayed names;
- no string longer than the field's declared ``max_length:N``, or
  :data:`DEFAULT_MAX_LENGTH` characters where none is declared (``max_length``),
  so a 10 MB name never reaches core or SCIM; nested source values hold at
  most :data:`MAX_NESTED_ITEMS` items, :data:`MAX_NESTED_DEPTH` deep (``max_size``).

A record therefore either maps to a row whose strings are clean and bounded,
or raises :class:`MappingError`; nothing else escapes :meth:`FieldMapping.apply`.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import Any

from credsync.mapping.transforms import (
    RULE_MAX_LENGTH,
    RULE_MAX_SIZE,
    RULE_REQUIRED,
    RULE_TRANSFORM,
    RULE_TYPE,
    Transform,
    TransformError,
    check_text,
    parse_iso8601,
    resolve,
    show,
)
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
#: Longest string a field may hold when its mapping declares no ``max_length``: far above any real
#: name, title or IRI, far below what would hurt the warehouse, SCIM or a credential.
DEFAULT_MAX_LENGTH = 10_000
#: Bounds on a nested source value (a score object, a JSON column): items in all, and depth.
MAX_NESTED_ITEMS = 10_000
MAX_NESTED_DEPTH = 32
#: Rule name of an error in the mapping file itself (not in a record).
RULE_MAPPING_FILE = "mapping_file"
_BIGINT = 2**63 - 1
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0", ""})


class MappingError(ValueError):
    """A mapping file is invalid, or a record does not satisfy it.

    ``file`` and ``row`` locate the mapping rule (``row`` is the CSV line
    number, header = 1); ``field`` is the target field; ``record`` is the
    1-based position of the source record (None for a file error) and
    ``record_key`` its business key when known. ``rule`` is the stable name of
    the check that failed (``max_length``, ``charset``, ``homoglyph``,
    ``mixed_script``, ``control_characters``...; ``mapping_file`` for an
    invalid mapping), ``reason`` the bare reason.
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
        rule: str = RULE_MAPPING_FILE,
    ) -> None:
        self.file, self.row, self.field = file, row, field
        self.record, self.record_key = record, record_key
        self.rule = rule
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
    #: Longest string the field emits: the declared ``max_length:N`` (the smallest, if several),
    #: else :data:`DEFAULT_MAX_LENGTH`.
    max_length: int = DEFAULT_MAX_LENGTH


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

        ``record_number``/``record_key`` only label errors. Fields are checked
        in mapping order; the first failure is the one reported.
        """
        if not isinstance(record, MappingABC):
            raise MappingError(f"expected an object, got {type(record).__name__}", file=self.path.name, row=None,
                               field=None, record=record_number, record_key=record_key, rule=RULE_TYPE)
        row: dict[str, Any] = {}
        for rule in self.rules:
            try:
                row[rule.target_field] = _apply_rule(rule, _lookup(record, rule.source_field))
            except TransformError as exc:
                raise MappingError(
                    str(exc), file=self.path.name, row=rule.line, field=rule.target_field,
                    record=record_number, record_key=record_key, rule=exc.rule,
                ) from None
            except Exception as exc:  # one odd value must cost one record, never the batch
                raise MappingError(
                    f"transform failed: {type(exc).__name__}: {show(str(exc), 120)}", file=self.path.name,
                    row=rule.line, field=rule.target_field, record=record_number, record_key=record_key,
                    rule=RULE_TRANSFORM,
                ) from exc
        return row


def _apply_rule(rule: FieldRule, value: Any) -> Any:
    """One field: guard the source value, transform, type, guard what is emitted."""
    # The source value first: trim would silently drop a trailing control character, and a
    # 10 MB value should not be NFKC-normalised and regex-matched before it is refused.
    source = value
    _guard(value, max(rule.max_length, DEFAULT_MAX_LENGTH))
    if isinstance(value, str) and not value.strip():
        value = None
    for transform in rule.transforms:
        value = transform(value)
    if value is None:
        if rule.required:
            raise TransformError(f"required source field {rule.source_field!r} is missing or blank",
                                 rule=RULE_REQUIRED)
        return None
    value = _coerce(value, rule.data_type)
    if value is source and isinstance(value, str):
        # Passed through unchanged (the common case): its characters were checked above; only the
        # field's own, possibly tighter, length limit is left to check.
        _guard_length(value, rule.max_length)
    else:
        _guard(value, rule.max_length)
    return value


def _guard(value: Any, limit: int) -> None:
    """Every string in ``value`` (nested ones and object keys included) is clean text of at most ``limit`` characters.

    Walks iteratively with a budget, so a deep or huge nested value is refused
    rather than exhausting the stack or the worker's memory.
    """
    if value is None:  # checked first: optional fields are mostly absent, and the ABC check below is slow
        return
    if isinstance(value, str):
        _guard_text(value, limit)
        return
    if not isinstance(value, MappingABC | list | tuple):
        return
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while stack:
        item, depth = stack.pop()
        seen += 1
        if seen > MAX_NESTED_ITEMS:
            raise TransformError(f"nested value has more than {MAX_NESTED_ITEMS} items", rule=RULE_MAX_SIZE)
        if isinstance(item, str):
            _guard_text(item, limit)
        elif isinstance(item, MappingABC | list | tuple):
            if depth >= MAX_NESTED_DEPTH:
                raise TransformError(f"nested value is more than {MAX_NESTED_DEPTH} levels deep", rule=RULE_MAX_SIZE)
            if isinstance(item, MappingABC):
                for key, child in item.items():
                    stack.append((key, depth + 1))
                    stack.append((child, depth + 1))
            else:
                stack.extend((child, depth + 1) for child in item)


def _guard_text(text: str, limit: int) -> None:
    _guard_length(text, limit)
    check_text(text)


def _guard_length(text: str, limit: int) -> None:
    if len(text) > limit:
        declared = "" if limit == DEFAULT_MAX_LENGTH else " declared"
        raise TransformError(f"is {len(text)} characters long, more than the{declared} {limit} allowed",
                             rule=RULE_MAX_LENGTH)


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
    declared = [limit for limit in (getattr(t, "max_length", None) for t in transforms) if limit is not None]
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
        max_length=min(declared, default=DEFAULT_MAX_LENGTH),
    )


def find_path(record: MappingABC[str, Any], dotted: str) -> tuple[bool, Any]:
    """``(present, value)`` of a source field: a flat CSV column named ``a.b`` wins; otherwise walk
    the nested record. A key whose value is null is present (schema drift tells the two apart)."""
    if dotted in record:
        return True, record[dotted]
    value: Any = record
    for part in dotted.split("."):
        # type() first: records are plain dicts, and an ABC isinstance costs more than the lookup.
        if not (type(value) is dict or isinstance(value, MappingABC)) or part not in value:
            return False, None
        value = value[part]
    return True, value


def _lookup(record: MappingABC[str, Any], dotted: str) -> Any:
    return find_path(record, dotted)[1]


def _coerce(value: Any, data_type: str) -> Any:
    """Check/convert a transformed value to ``data_type``; TransformError says what was wrong."""
    if data_type == "string":
        if type(value) is str:  # the common case, before the slow ABC checks below
            return value
        # Only scalars read the same in every system become text: str(True), str(b"..") or a
        # container's repr would smuggle a made-up value into a text column.
        if isinstance(value, bool | bytes | bytearray | MappingABC | list | tuple | set | frozenset) or (
                isinstance(value, float) and not math.isfinite(value)):
            raise TransformError(f"expected text, got {type(value).__name__} {show(value)}", rule=RULE_TYPE)
        return value if isinstance(value, str) else str(value)
    if data_type in ("date", "timestamp"):
        parsed = parse_iso8601(value)
        if data_type == "date":
            if isinstance(parsed, datetime):
                raise TransformError(f"{show(value)} is a timestamp, expected a date (YYYY-MM-DD)", rule=RULE_TYPE)
            return parsed
        if not isinstance(parsed, datetime):
            raise TransformError(f"{show(value)} is a date, expected a timestamp with time zone", rule=RULE_TYPE)
        return parsed
    if data_type == "integer":
        if isinstance(value, bool):
            raise TransformError(f"{value!r} is a boolean, expected an integer", rule=RULE_TYPE)
        try:
            number = Decimal(str(value).strip())
        except (InvalidOperation, ValueError):
            raise TransformError(f"{show(value)} is not an integer", rule=RULE_TYPE) from None
        # Range first: int(Decimal("1e999999999")) would build a billion-digit integer.
        if not number.is_finite() or abs(number) > _BIGINT:
            raise TransformError(f"{show(value)} is not an integer within 64 bits", rule=RULE_TYPE)
        if number != number.to_integral_value():
            raise TransformError(f"{show(value)} is not a whole number", rule=RULE_TYPE)
        return int(number)
    if data_type == "number":
        if isinstance(value, bool):
            raise TransformError(f"{value!r} is a boolean, expected a number", rule=RULE_TYPE)
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise TransformError(f"{show(value)} is not a number", rule=RULE_TYPE) from None
        if not math.isfinite(number):
            raise TransformError(f"{show(value)} is not a finite number", rule=RULE_TYPE)
        return number
    if data_type == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE - {""}:
            return False
        raise TransformError(f"{show(value)} is not true/false", rule=RULE_TYPE)
    if data_type == "json":
        try:
            json.dumps(value, allow_nan=False)  # jsonb has no NaN or Infinity
        except (TypeError, ValueError, RecursionError):
            raise TransformError(f"{type(value).__name__} is not JSON-serialisable", rule=RULE_TYPE) from None
        return value
    raise TransformError(f"unknown data_type {data_type!r}", rule=RULE_TYPE)  # unreachable: validated at load

