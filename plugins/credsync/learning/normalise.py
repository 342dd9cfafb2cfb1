"""xAPI statements and LMS REST completions → one staged completion shape.

Field extraction goes through the versioned mappings
(``include/mappings/xapi_statement_v1.csv``, ``lms_completion_v1.csv``); this
module adds what a flat mapping cannot say: which verb, which course, who the
actor is, and the row-level checks whose failure quarantines a record (with a
rule name and reason) instead of dropping it.

Before any of that, every string (and object key) of the record is checked for
text the warehouse cannot or should not hold: NUL (Postgres text and jsonb
refuse it, so one such statement used to fail the whole COPY on every run),
other control characters, lone surrogates (not encodable as UTF-8) and
non-finite numbers (not JSON). Such a record is quarantined naming each field,
and its stored copy is escaped (see :func:`storable_copy`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from credsync.learning.fast_row import fast_row
from credsync.mapping import MappingError, load_mapping
from credsync.mapping.transforms import lowercase_email, strip_email_alias

XAPI_MAPPING = ("xapi_statement", "v1")
#: Off only to compare the two paths (tests): the fast one must give exactly the full one's result.
FAST_PATH = True
LMS_MAPPING = ("lms_completion", "v1")
KNOWN_VERBS = ("completed", "passed", "failed", "mastered", "voided")
SUCCESS_VERBS = frozenset({"completed", "passed", "mastered"})
# ADL verbs as xAPI 1.0.3 names them, and the w3id.org IRIs 2.0-era profiles use.
VERB_BASES = ("http://adlnet.gov/expapi/verbs/", "https://w3id.org/xapi/adl/verbs/")
# Clocks drift; a statement a few minutes "in the future" is skew, not a bad record.
FUTURE_SKEW = timedelta(minutes=5)
_SHA1_HEX = re.compile(r"^[0-9a-f]{40}$")
# A mapping error on these target fields is a named rule; any other is a plain mapping error.
_RULE_FOR_FIELD = {"score": "score_in_range", "completed_at": "timestamp_valid", "stored_at": "timestamp_valid"}
# Refused in any string or key: C0 controls except tab/LF/CR (free text such as result.response
# may hold lines), DEL, C1 controls, and lone surrogates (valid JSON text such as "\ud800", but
# with no UTF-8 encoding: psycopg cannot even send them).
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_SUSPICIOUS_MARKERS = ("\\u00", "\\b", "\\f", "NaN", "Infinity")
_SUSPICIOUS_CHAR = re.compile(r"[\x7f-\x9f\ud800-\udfff]")
_CONTROL_NAMES = {0x00: "NUL", 0x07: "BEL", 0x08: "BS", 0x0B: "VT", 0x0C: "FF", 0x1B: "ESC", 0x7F: "DEL"}
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_FINDINGS_IN_REASON = 5
MAX_KEY_IN_PATH = 120


@dataclass
class StagedCompletion:
    """One row of ``staging.completions``; ``quarantine_rule`` set means it is rejected."""

    row_number: int
    source: str  # xapi | lms_rest
    source_id: str | None
    actor_key: str | None
    course_code: str | None
    verb: str | None
    voids_source_id: str | None
    success: bool | None
    score: float | None
    completed_at: datetime | None
    stored_at: datetime | None
    registration: str | None
    raw: Mapping[str, Any]
    mapping_version: str
    quarantine_rule: str | None = None
    quarantine_reason: str | None = None
    # ``raw`` as JSON text, set by the normaliser once it found the text storable; None = not known.
    raw_json: str | None = field(default=None, repr=False, compare=False)

    def reject(self, rule: str, reason: str) -> StagedCompletion:
        if self.quarantine_rule is None:  # the first failed rule is the one reported
            self.quarantine_rule, self.quarantine_reason = rule, reason
        return self


@dataclass(frozen=True)
class TextFinding:
    """One place in a record holding text the warehouse refuses: where, what, and which rule it breaks."""

    field: str  # dotted path, e.g. object.definition.name.en-US, context.contextActivities.parent[0].id
    rule: str  # control_characters | invalid_unicode | data_type
    what: str  # e.g. "U+0000 (NUL) at offset 4", "a key holding U+0007 (BEL)", "NaN"


def find_unstorable(record: Any) -> list[TextFinding]:
    """Every string, object key and number in ``record`` that must not be stored as it is."""
    text = json_text(record)
    if text is not None and not _suspicious(text):
        return []
    return list(_walk(record, ()))


def json_text(record: Any) -> str | None:
    """``record`` as the JSON text staging COPYs into jsonb (None if it does not serialise)."""
    try:
        return json.dumps(record, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return None


def _suspicious(text: str) -> bool:
    """Cheap pre-check on the JSON text, so ordinary records skip the field walk.

    In JSON text C0 controls appear as escapes, DEL/C1/surrogates as themselves and non-finite
    numbers as bare words; a hit may be innocent (an escaped backslash, "NaN" in a name): the
    walk decides. Substring tests run at C speed; a one-class regex covers the rest.
    """
    return any(marker in text for marker in _SUSPICIOUS_MARKERS) or _SUSPICIOUS_CHAR.search(text) is not None


def _walk(value: Any, path: tuple[str | int, ...]) -> Iterator[TextFinding]:
    if isinstance(value, str):
        match = _UNSTORABLE.search(value)
        if match:
            yield TextFinding(_field_path(path), _rule_for(match.group()),
                              f"{_describe(match.group())} at offset {match.start()}")
    elif isinstance(value, float):
        if not math.isfinite(value):
            yield TextFinding(_field_path(path), "data_type", f"{value!r} (not a JSON number)")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            key_text = str(key)
            match = _UNSTORABLE.search(key_text)
            if match:
                yield TextFinding(_field_path((*path, key_text)), _rule_for(match.group()),
                                  f"a key holding {_describe(match.group())}")
            yield from _walk(item, (*path, key_text))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))


def _rule_for(char: str) -> str:
    return "invalid_unicode" if _SURROGATE.match(char) else "control_characters"


def _describe(char: str) -> str:
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return f"U+{code:04X} (lone surrogate)"
    return f"U+{code:04X}" + (f" ({_CONTROL_NAMES[code]})" if code in _CONTROL_NAMES else " (control character)")


def _field_path(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            text += f".{part}" if text else part
        else:  # IRIs (extensions) and hostile keys: quoted, escaped, and cut short in a reason
            shown = part if len(part) <= MAX_KEY_IN_PATH else part[:MAX_KEY_IN_PATH] + "..."
            text += f"[{json.dumps(escape_text(shown))}]"
    return text or "(the record itself)"


def escape_text(text: str) -> str:
    """``text`` with every control character and lone surrogate written as the six visible
    characters ``\\uXXXX``: storable in text and jsonb, and still showing what was there."""
    return _UNSTORABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def storable_copy(record: Any, findings: list[TextFinding]) -> dict[str, Any]:
    """What staging (and audit.quarantine) keeps of a record that :func:`find_unstorable` flagged.

    jsonb refuses ``\\u0000`` anywhere, even inside a quarantined copy, so the record is
    stored twice over, both storable:
    ``statement_json`` is the exact original as ASCII-only JSON text (NUL appears as the
    escape ``\\u0000`` inside a jsonb *string*, which jsonb accepts); ``json.loads`` of it
    gives back the record byte for byte, for replay once the source is fixed.
    ``statement`` is the same record with each offending character replaced by its visible
    ``\\uXXXX`` text and non-finite numbers by their name, so it can be read and queried
    (``record -> 'statement' ->> 'id'``); it is a display copy, not the original.
    """
    return {
        "statement_json": json.dumps(record, ensure_ascii=True, default=str),
        "statement": _escaped(record),
        "unstorable_fields": sorted({finding.field for finding in findings}),
    }


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, Mapping):
        return {escape_text(str(key)): _escaped(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(item) for item in value]
    return value


def _unstorable_reason(what: str, key: str | None, findings: list[TextFinding]) -> tuple[str, str]:
    """(rule, reason) for a record with unstorable text: the first finding's rule, every field named."""
    rule = findings[0].rule
    listed = "; ".join(f"{f.field}: {f.what} [{f.rule}]" for f in findings[:MAX_FINDINGS_IN_REASON])
    more = len(findings) - MAX_FINDINGS_IN_REASON
    shown = key if key is None or len(key) <= MAX_KEY_IN_PATH else key[:MAX_KEY_IN_PATH] + "..."
    return rule, (
        f"{what} {escape_text(shown) if shown else '(no id)'}: {listed}"
        + (f"; and {more} more" if more > 0 else "")
        + " - NUL, other control characters (tab, LF and CR allowed), lone surrogates and non-finite"
        " numbers are not stored; fix the record at its source"
    )


def course_activity_prefix(tenant_id: str) -> str:
    return f"https://lms.{tenant_id}.example/courses/"


def lms_home_page(tenant_id: str) -> str:
    return f"https://lms.{tenant_id}.example"


def normalise_email(value: str) -> str | None:
    """The same normalisation core.workers.email_normalized uses (lowercase, +alias stripped)."""
    return strip_email_alias(lowercase_email(value.removeprefix("mailto:")))


def normalise_statement(
    statement: Mapping[str, Any], *, tenant_id: str, row_number: int, now: datetime | None = None
) -> StagedCompletion:
    """One xAPI statement (1.0.3 or 2.0) as a staged completion, quarantined if it breaks a rule."""
    mapping = load_mapping(*XAPI_MAPPING)
    key = _record_key(statement, "id")
    staged = StagedCompletion(
        row_number=row_number, source="xapi", source_id=key, actor_key=None, course_code=None, verb=None,
        voids_source_id=None, success=None, score=None, completed_at=None, stored_at=None, registration=None,
        raw=statement, mapping_version=mapping.mapping_version,
    )
    # A plainly clean statement maps without the generic engine (the same row; see fast_row).
    fast = fast_row(statement, *XAPI_MAPPING) if FAST_PATH else None
    if fast is not None:
        row, staged.raw_json = fast
    else:
        refused = _refuse_unreadable(staged, "statement", key)
        if refused is not None:
            return refused
        try:
            row = mapping.apply(statement, record_number=row_number, record_key=key)
        except MappingError as exc:
            return staged.reject(_mapping_rule(exc), str(exc))
    staged.source_id = row["source_id"]
    staged.score = row["score"]
    staged.stored_at = row["stored_at"]
    staged.completed_at = row["completed_at"] or row["stored_at"]
    staged.registration = row["registration"]
    staged.verb = _verb(row["verb_id"])
    if staged.verb is None:
        return staged.reject("known_verb", f"verb {row['verb_id']!r} is not one of {', '.join(KNOWN_VERBS)}")
    if staged.verb == "voided":
        if row["object_type"] != "StatementRef":
            return staged.reject("voiding_target", "a voided statement must target a StatementRef")
        staged.voids_source_id = row["object_id"]
        return staged  # the authority voids; no learner, course or score to check
    staged.actor_key = _actor_key(row, tenant_id)
    if staged.actor_key is None:
        return staged.reject("actor_present", "actor has no usable account (tenant LMS), mbox or mbox_sha1sum")
    prefix = course_activity_prefix(tenant_id)
    if not row["object_id"].startswith(prefix) or len(row["object_id"]) == len(prefix):
        return staged.reject("course_activity", f"object {row['object_id']!r} is not a course of {prefix}")
    staged.course_code = row["object_id"][len(prefix):].strip("/")
    staged.success = _success(staged.verb, row["success"])
    return _check_time(staged, now)


def normalise_lms_completion(
    item: Mapping[str, Any], *, row_number: int, now: datetime | None = None
) -> StagedCompletion | None:
    """One LMS REST completion as a staged completion; None while it is not completed.

    An in-progress enrollment is not a completion yet: it is skipped, and comes
    back in a later pull when its ``updated_at`` moves.
    """
    mapping = load_mapping(*LMS_MAPPING)
    key = _record_key(item, "enrollment_id")
    staged = StagedCompletion(
        row_number=row_number, source="lms_rest", source_id=key, actor_key=None, course_code=None, verb=None,
        voids_source_id=None, success=None, score=None, completed_at=None, stored_at=None, registration=key,
        raw=item, mapping_version=mapping.mapping_version,
    )
    refused = _refuse_unreadable(staged, "enrollment", key)
    if refused is not None:
        staged.registration = staged.source_id
        return refused
    try:
        row = mapping.apply(item, record_number=row_number, record_key=key)
    except MappingError as exc:
        return staged.reject(_mapping_rule(exc), str(exc))
    if row["completion_status"] != "completed":
        return None
    staged.source_id = row["source_id"]
    staged.actor_key = f"account:{row['actor_account_name']}"
    staged.course_code = row["course_code"]
    staged.score = row["score"]
    staged.stored_at = row["stored_at"]
    staged.completed_at = row["completed_at"]
    if staged.completed_at is None:
        return staged.reject("timestamp_valid", "completed enrollment has no completed_at")
    staged.verb = {"passed": "passed", "failed": "failed"}.get(row["success_status"] or "", "completed")
    staged.success = staged.verb != "failed"
    return _check_time(staged, now)


def _mapping_rule(exc: MappingError) -> str:
    """The quarantine rule for a mapping error: the gate's name for score and timestamps, else the
    engine's own rule (``max_length``, ``data_type``, ``required``...), else plain ``mapping``."""
    engine_rule = getattr(exc, "rule", None)
    return _RULE_FOR_FIELD.get(exc.field or "") or (
        engine_rule if engine_rule and engine_rule != "mapping_file" else "mapping")


def _record_key(record: Any, field: str) -> str | None:
    value = record.get(field) if isinstance(record, Mapping) else None
    return str(value) if value not in (None, "") and not isinstance(value, Mapping | list) else None


def _refuse_unreadable(staged: StagedCompletion, what: str, key: str | None) -> StagedCompletion | None:
    """Quarantine a record that is not a JSON object, or holds text the warehouse refuses.

    Checked before any mapping so that no refused character reaches a staging column;
    the stored copy of such a record is escaped (:func:`storable_copy`), and so is its key.
    """
    record = staged.raw
    if not isinstance(record, Mapping):
        staged.raw = {"statement": _escaped(record)}
        return staged.reject("record_shape", f"{what} #{staged.row_number} is a {type(record).__name__},"
                                             " not a JSON object")
    text = json_text(record)
    findings = [] if text is not None and not _suspicious(text) else list(_walk(record, ()))
    if not findings:
        staged.raw_json = text  # staging COPYs this text rather than serialising the record again
        return None
    staged.raw = storable_copy(record, findings)
    staged.source_id = escape_text(key) if key else None
    return staged.reject(*_unstorable_reason(what, key, findings))


def _verb(verb_id: str) -> str | None:
    for base in VERB_BASES:
        if verb_id.startswith(base) and verb_id[len(base):] in KNOWN_VERBS:
            return verb_id[len(base):]
    return None


def _actor_key(row: Mapping[str, Any], tenant_id: str) -> str | None:
    """How the statement names the learner: ``account:<employee_id>``, ``mbox:<email>`` or ``sha1:<hex>``."""
    name, home = row["actor_account_name"], row["actor_account_home_page"]
    if name and home and home.rstrip("/") == lms_home_page(tenant_id):
        return f"account:{name}"
    if row["actor_mbox"]:
        email = normalise_email(row["actor_mbox"])
        return f"mbox:{email}" if email and "@" in email else None
    sha1 = (row["actor_mbox_sha1sum"] or "").lower()
    if _SHA1_HEX.match(sha1):
        return f"sha1:{sha1}"
    return None


def _success(verb: str, reported: bool | None) -> bool:
    # The verb is the LMS's verdict; result.success can only withdraw a pass, never grant one.
    return verb in SUCCESS_VERBS and reported is not False


def _check_time(staged: StagedCompletion, now: datetime | None) -> StagedCompletion:
    limit = (now or datetime.now(UTC)) + FUTURE_SKEW
    if staged.completed_at is not None and staged.completed_at > limit:
        return staged.reject("timestamp_not_future", f"completed_at {staged.completed_at.isoformat()} is in the future")
    return staged
