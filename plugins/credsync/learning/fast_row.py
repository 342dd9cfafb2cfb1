"""The mapped row of a clean, well-formed xAPI statement, without the generic mapping engine.

The engine (:meth:`credsync.mapping.engine.FieldMapping.apply`) runs each of the statement
mapping's 15 rules through its guards, transforms and type checks: about 50 µs a statement,
most of a pull's CPU. Nearly every statement an LRS sends is plain: ASCII or ordinary text, no
escapes, strings without surrounding blanks, ISO timestamps with a zone, a numeric score object.
For those, :func:`fast_row` reads the same 15 fields directly and returns the same row the engine
would, plus the statement's JSON text for staging.

It only ever answers when the answer is certain. Anything unusual (a backslash escape anywhere
in the JSON text, a control or bidi character, a lone surrogate, a ``null``, a non-string where
text is mapped, a blank or padded value, a missing required field, a flat ``"a.b"`` key, a value
over its length limit, a timestamp the parser refuses, an odd score) makes it return None, and
the caller runs the full path: the generic checks, the engine and every quarantine rule and reason
exactly as before. So the fast path decides nothing; it only skips work whose outcome is known.

The rules it mirrors are read from the mapping file itself (:func:`fast_rules`): a rule of a kind
it does not know (another transform, another type) turns it off for every statement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from credsync.mapping import load_mapping
from credsync.mapping.engine import DEFAULT_MAX_LENGTH
from credsync.mapping.transforms import TransformError, check_text, normalize_score_0_100, parse_iso8601

#: A score object this small and all-numeric cannot trip the engine's nested-value guards.
MAX_SCORE_KEYS = 8
_MISSING = object()


@dataclass(frozen=True)
class FastRule:
    """One mapping rule as the fast path applies it."""

    target: str
    path: tuple[str, ...]
    kind: str  # text | time | bool | score
    required: bool
    limit: int  # text: the declared max_length
    source_limit: int  # the engine's length guard on the source value (any kind)


def _kind(data_type: str, transform: str) -> tuple[str, int] | None:
    """(kind, declared length) for the rule shapes the statement mapping uses; None for any other."""
    steps = [step.strip() for step in transform.split(";") if step.strip()]
    if data_type == "string" and len(steps) == 2 and steps[0] == "trim" and steps[1].startswith("max_length:"):
        limit = steps[1].removeprefix("max_length:")
        return ("text", int(limit)) if limit.isdigit() and int(limit) >= 1 else None
    if (data_type, steps) == ("timestamp", ["parse_iso8601"]):
        return "time", 0
    if (data_type, steps) == ("boolean", []):
        return "bool", 0
    if (data_type, steps) == ("number", ["normalize_score_0_100"]):
        return "score", 0
    return None


@cache
def fast_rules(name: str, version: str) -> tuple[FastRule, ...] | None:
    """The mapping ``name``/``version`` as fast rules; None (fast path off) if any rule is of
    another kind, so a changed mapping file can never be applied wrongly."""
    rules = []
    for rule in load_mapping(name, version).rules:
        kind = _kind(rule.data_type, rule.transform_spec)
        if kind is None:
            return None
        rules.append(FastRule(rule.target_field, tuple(rule.source_field.split(".")), kind[0], rule.required,
                              kind[1], max(kind[1], DEFAULT_MAX_LENGTH)))
    return tuple(rules)


def json_text(statement: dict[str, Any]) -> str | None:
    """The statement's JSON text if it is plainly clean, else None (then the full checks run).

    msgspec writes every string literally except ``"``, ``\\`` and C0 controls, which it escapes:
    a text without any backslash therefore holds no C0 control in any string or key, and one scan
    for the engine's unsafe characters (DEL, C1, separators, bidi controls) covers every string.
    It cannot encode a lone surrogate (raises) and writes NaN/Infinity as ``null``, so a text
    holding ``null`` anywhere is left to the full path too.
    """
    import msgspec

    try:
        text = _ENCODER.encode(statement).decode()
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError, RecursionError):
        return None
    if "\\" in text or "null" in text:
        return None
    if text.isascii():
        return None if "\x7f" in text else text
    try:
        check_text(text)
    except TransformError:
        return None
    return text


def _encoder() -> Any:
    import msgspec

    return msgspec.json.Encoder()


_ENCODER = _encoder()


def fast_row(statement: Any, name: str, version: str) -> tuple[dict[str, Any], str] | None:
    """``(row, JSON text)`` exactly as the full path would map a clean statement, or None."""
    plan = fast_plan(name, version)
    if plan is None or type(statement) is not dict:
        return None
    for key in statement:  # the engine reads a flat "a.b" key before the nested path
        if type(key) is not str or "." in key:
            return None
    text = json_text(statement)
    if text is None:
        return None
    # Each parent object once (actor, actor.account, verb, ...), then every rule reads its leaf.
    parents: dict[tuple[str, ...], Any] = {(): statement}
    for path in plan.parents:
        above = parents[path[:-1]]
        if above is _MISSING:
            parents[path] = _MISSING
            continue
        value = above.get(path[-1], _MISSING)
        if value is not _MISSING and type(value) is not dict:
            return None  # a scalar (or null) where an object was expected: the engine's reading decides
        parents[path] = value
    row: dict[str, Any] = {}
    for rule in plan.rules:
        parent = parents[rule.path[:-1]]
        value = _MISSING if parent is _MISSING else parent.get(rule.path[-1], _MISSING)
        if value is _MISSING or value is None:
            if rule.required:
                return None
            row[rule.target] = None
            continue
        converted = _convert(rule, value)
        if converted is _MISSING:
            return None
        row[rule.target] = converted
    return row, text


@dataclass(frozen=True)
class FastPlan:
    """The fast rules and the parent objects they read, shortest path first."""

    rules: tuple[FastRule, ...]
    parents: tuple[tuple[str, ...], ...]


@cache
def fast_plan(name: str, version: str) -> FastPlan | None:
    rules = fast_rules(name, version)
    if rules is None:
        return None
    parents = {rule.path[:end] for rule in rules for end in range(1, len(rule.path))}
    return FastPlan(rules, tuple(sorted(parents, key=lambda path: (len(path), path))))


def _convert(rule: FastRule, value: Any) -> Any:
    """The engine's value for ``value`` under ``rule``, or _MISSING when it is not plainly so."""
    kind = rule.kind
    if kind == "text":
        if type(value) is not str:
            return _MISSING
        stripped = value.strip()
        if not stripped or len(stripped) > rule.limit or len(value) > rule.source_limit:
            return _MISSING
        return stripped
    if kind == "time":
        if type(value) is not str or len(value) > rule.source_limit:
            return _MISSING
        try:
            parsed = parse_iso8601(value)
        except (TransformError, ValueError, OverflowError):
            return _MISSING
        return parsed if isinstance(parsed, datetime) else _MISSING
    if kind == "bool":
        return value if type(value) is bool else _MISSING
    # score: a plain number, or a small object of plain numbers (scaled / raw / min / max)
    if type(value) is dict:
        if len(value) > MAX_SCORE_KEYS or any(type(v) not in (int, float) or len(k) > rule.source_limit
                                              for k, v in value.items()):
            return _MISSING
    elif type(value) not in (int, float):
        return _MISSING
    try:
        number = normalize_score_0_100(value)
    except (TransformError, ValueError, OverflowError):
        return _MISSING
    if number is None:
        return None
    number = float(number)
    return number if math.isfinite(number) else _MISSING
