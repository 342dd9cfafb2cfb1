"""Credential rules from include/mappings/credential_rules.csv, validated at load.

Each rule says which course(s) earn which credential type, with what score,
for how long, and how it renews. Errors name the file, the row (as a spreadsheet
shows it, header = row 1) and the field.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from credsync.paths import MAPPINGS_DIR

RULES_FILE = MAPPINGS_DIR / "credential_rules.csv"
REQUIRED_COLUMNS = (
    "rule_id",
    "course_codes",
    "credential_type",
    "achievement_name",
    "min_score",
    "validity_days",
    "renewal_rule",
    "requires_credential",
    "pay_impact",
    "issuer",
    "rule_version",
    "reminder_days",
    "notes",
)
_RULE_ID = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,40}$")
_COURSE_CODE = re.compile(r"^[A-Z][A-Z0-9]*-\d{3}$")
_CREDENTIAL_TYPE = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
_RENEWAL = re.compile(r"^reissue_within:(\d{1,4})$")
_BOOLEANS = {"true": True, "false": False}


class RuleConfigError(ValueError):
    """The rules file is invalid; the message names file, row and field."""

    def __init__(self, path: Path, row: int | None, field: str | None, problem: str) -> None:
        where = str(path) + (f": row {row}" if row is not None else "") + (
            f": field {field!r}" if field else ""
        )
        super().__init__(f"{where}: {problem}")
        self.path, self.row, self.field = path, row, field


@dataclass(frozen=True)
class CredentialRule:
    """One validated rule. ``course_codes`` are all required (a set rule when >1)."""

    rule_id: str
    course_codes: tuple[str, ...]
    credential_type: str
    achievement_name: str
    min_score: float | None
    validity_days: int
    renewal_window_days: int
    requires_credential: str | None
    pay_impact: bool
    issuer: str
    rule_version: str
    reminder_days: tuple[int, ...]
    notes: str

    @property
    def renewal_rule(self) -> str:
        return f"reissue_within:{self.renewal_window_days}"


def load_rules(path: Path = RULES_FILE, *, known_courses: set[str] | None = None) -> list[CredentialRule]:
    """All rules in ``path``; raises RuleConfigError on the first invalid cell.

    ``known_courses``, when given, rejects course codes outside the catalog.
    """
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise RuleConfigError(path, 1, missing[0], f"missing column(s): {', '.join(missing)}")
        rules: list[CredentialRule] = []
        seen: dict[str, int] = {}
        for row_number, row in enumerate(reader, start=2):
            rule = _parse_row(path, row_number, row, known_courses)
            if rule.rule_id in seen:
                first = seen[rule.rule_id]
                raise RuleConfigError(
                    path, row_number, "rule_id", f"duplicate rule_id {rule.rule_id!r} (first on row {first})"
                )
            seen[rule.rule_id] = row_number
            rules.append(rule)
    if not rules:
        raise RuleConfigError(path, None, None, "no rules defined")
    _check_consistency(path, rules, seen)
    return rules


def _parse_row(
    path: Path, row_number: int, row: dict[str, str | None], known_courses: set[str] | None
) -> CredentialRule:
    def cell(name: str) -> str:
        return (row.get(name) or "").strip()

    def fail(name: str, problem: str) -> RuleConfigError:
        return RuleConfigError(path, row_number, name, problem)

    if None in row:  # DictReader puts surplus cells under the None key
        raise fail("notes", "row has more cells than the header (quote values containing commas)")
    for name in ("rule_id", "course_codes", "credential_type", "achievement_name", "validity_days",
                 "renewal_rule", "pay_impact", "issuer", "rule_version"):
        if not cell(name):
            raise fail(name, "is required")
    rule_id = cell("rule_id")
    if not _RULE_ID.match(rule_id):
        raise fail("rule_id", f"{rule_id!r} must match {_RULE_ID.pattern}")
    courses = tuple(code.strip() for code in cell("course_codes").split("+"))
    for code in courses:
        if not _COURSE_CODE.match(code):
            raise fail("course_codes", f"{code!r} is not a course code like 'CPR-101' (join sets with '+')")
        if known_courses is not None and code not in known_courses:
            raise fail("course_codes", f"{code!r} is not in the course catalog")
    if len(set(courses)) != len(courses):
        raise fail("course_codes", "lists a course twice")
    credential_type = cell("credential_type")
    if not _CREDENTIAL_TYPE.match(credential_type):
        raise fail("credential_type", f"{credential_type!r} must match {_CREDENTIAL_TYPE.pattern}")
    min_score: float | None = None
    if cell("min_score"):
        try:
            min_score = float(cell("min_score"))
        except ValueError:
            raise fail("min_score", f"{cell('min_score')!r} is not a number") from None
        if not 0 <= min_score <= 100:
            raise fail("min_score", f"{min_score} is outside 0..100 (scores are normalised to percent)")
    validity_days = _positive_int(cell("validity_days"), fail("validity_days", "must be a whole number of days > 0"))
    renewal = _RENEWAL.match(cell("renewal_rule"))
    if not renewal:
        raise fail("renewal_rule", f"{cell('renewal_rule')!r} must look like 'reissue_within:60'")
    window = int(renewal.group(1))
    if window >= validity_days:
        raise fail("renewal_rule", f"renewal window {window} days is not shorter than validity {validity_days} days")
    pay_impact = _BOOLEANS.get(cell("pay_impact").lower())
    if pay_impact is None:
        raise fail("pay_impact", f"{cell('pay_impact')!r} must be true or false")
    reminders: tuple[int, ...] = ()
    if cell("reminder_days"):
        bad = fail("reminder_days", "must be whole days > 0 joined by '|', e.g. 60|30|7")
        reminders = tuple(_positive_int(part.strip(), bad) for part in cell("reminder_days").split("|"))
        if any(day >= validity_days for day in reminders):
            raise fail("reminder_days", f"a reminder is not before the end of {validity_days} days of validity")
    requires = cell("requires_credential") or None
    if requires is not None and not _CREDENTIAL_TYPE.match(requires):
        raise fail("requires_credential", f"{requires!r} must match {_CREDENTIAL_TYPE.pattern}")
    return CredentialRule(
        rule_id=rule_id,
        course_codes=courses,
        credential_type=credential_type,
        achievement_name=cell("achievement_name"),
        min_score=min_score,
        validity_days=validity_days,
        renewal_window_days=window,
        requires_credential=requires,
        pay_impact=pay_impact,
        issuer=cell("issuer"),
        rule_version=cell("rule_version"),
        reminder_days=tuple(sorted(set(reminders), reverse=True)),
        notes=cell("notes"),
    )


def _positive_int(text: str, error: RuleConfigError) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise error
    return int(text)


def _check_consistency(path: Path, rules: list[CredentialRule], rows: dict[str, int]) -> None:
    """Rules that share a credential type must agree on what the credential *is*."""
    by_type: dict[str, CredentialRule] = {}
    types = {rule.credential_type for rule in rules}
    for rule in rules:
        row = rows[rule.rule_id]
        if rule.requires_credential and rule.requires_credential not in types:
            raise RuleConfigError(
                path, row, "requires_credential", f"{rule.requires_credential!r} is no rule's credential_type"
            )
        first = by_type.setdefault(rule.credential_type, rule)
        for name in ("pay_impact", "validity_days", "issuer", "achievement_name"):
            if getattr(rule, name) != getattr(first, name):
                raise RuleConfigError(
                    path, row, name,
                    f"differs from rule {first.rule_id} for the same credential_type {rule.credential_type!r}",
                )
