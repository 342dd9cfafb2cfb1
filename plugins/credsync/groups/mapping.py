"""The group mapping (include/mappings/groups_v<N>.csv): which worker belongs to which LMS group.

Each row is a rule: a worker whose ``source_system.source_field`` equals ``match_value``
(trimmed, case-insensitive) belongs to ``target_group``. Sources: ``hris`` (``department``,
``job_title``, ``location``, ``employment_type`` of core.workers) and ``idp`` (``group``: an IdP
group's name, ``role``: a role claim; core.idp_claims). ``match_value`` ``*`` matches any value and
``{value}`` in ``target_group`` / ``display_name`` is replaced by it (``target_group`` slugged), so
one rule makes one group per location. Several rules may feed one group (a job family of titles).

``target_group`` is the group's key everywhere: core.scim_groups, core.group_memberships and the
SCIM Group's ``externalId``. The mapping version is the file name (``groups_v1``); the newest
file is the one in force. Errors name the file, the row (header = row 1) and the field.
Plain Python (no Airflow).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from credsync.paths import MAPPINGS_DIR

COLUMNS = ("rule_id", "source_system", "source_field", "match_value", "target_group", "display_name", "notes")
SOURCE_FIELDS = {
    "hris": ("department", "job_title", "location", "employment_type"),
    "idp": ("group", "role"),
}
WILDCARD = "*"
_RULE_ID = re.compile(r"^[a-z][a-z0-9_]{1,60}$")
_GROUP_KEY = re.compile(r"^[a-z][a-z0-9-]{1,80}$")
_VERSION = re.compile(r"^groups_v(\d+)\.csv$")


class GroupMappingError(ValueError):
    """The group mapping is invalid; the message names file, row and field."""


@dataclass(frozen=True)
class GroupRule:
    rule_id: str
    source_system: str
    source_field: str
    match_value: str
    target_group: str
    display_name: str

    @property
    def attribute(self) -> str:
        """How the membership SQL names the attribute: ``hris.department``, ``idp.role``..."""
        return f"{self.source_system}.{self.source_field}"

    @property
    def wildcard(self) -> bool:
        return self.match_value == WILDCARD


@dataclass(frozen=True)
class GroupMapping:
    version: str
    rules: tuple[GroupRule, ...]

    def static_groups(self) -> dict[str, tuple[str, str]]:
        """Groups named outright (not by a wildcard): key -> (display name, first rule id)."""
        groups: dict[str, tuple[str, str]] = {}
        for rule in self.rules:
            if not rule.wildcard:
                groups.setdefault(rule.target_group, (rule.display_name, rule.rule_id))
        return groups


def latest_mapping_file(directory: Path = MAPPINGS_DIR) -> Path:
    """The ``groups_v<N>.csv`` with the highest N."""
    found = sorted(((int(m.group(1)), p) for p in directory.glob("groups_v*.csv")
                    if (m := _VERSION.match(p.name))), key=lambda item: item[0])
    if not found:
        raise GroupMappingError(f"{directory}: no groups_v<N>.csv mapping")
    return found[-1][1]


def load_group_mapping(path: Path | None = None) -> GroupMapping:
    """Read and validate the group mapping (default: the latest version)."""
    path = path or latest_mapping_file()
    match = _VERSION.match(path.name)
    if not match:
        raise GroupMappingError(f"{path}: a group mapping is named groups_v<N>.csv")
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise GroupMappingError(f"{path}: missing column(s) {', '.join(missing)}")
        rules = [_rule(path, number, row) for number, row in enumerate(reader, start=2)]
    seen: set[str] = set()
    names: dict[str, tuple[str, int]] = {}
    for number, rule in enumerate(rules, start=2):
        if rule.rule_id in seen:
            raise GroupMappingError(f"{path}: row {number}: field 'rule_id' {rule.rule_id!r} is used twice")
        seen.add(rule.rule_id)
        if not rule.wildcard:
            earlier = names.setdefault(rule.target_group, (rule.display_name, number))
            if earlier[0] != rule.display_name:
                raise GroupMappingError(
                    f"{path}: row {number}: field 'display_name' {rule.display_name!r} differs from row "
                    f"{earlier[1]}'s {earlier[0]!r} for group {rule.target_group!r}")
    if not rules:
        raise GroupMappingError(f"{path}: no rules")
    return GroupMapping(version=path.stem, rules=tuple(rules))


def _rule(path: Path, number: int, row: dict[str, str | None]) -> GroupRule:
    def field(name: str) -> str:
        return (row.get(name) or "").strip()

    def fail(name: str, why: str) -> GroupMappingError:
        return GroupMappingError(f"{path}: row {number}: field {name!r} {why}")

    rule_id, system, source_field = field("rule_id"), field("source_system"), field("source_field")
    match_value, target, display = field("match_value"), field("target_group"), field("display_name")
    if not _RULE_ID.match(rule_id):
        raise fail("rule_id", f"{rule_id!r} is not lowercase letters, digits and _")
    if system not in SOURCE_FIELDS:
        raise fail("source_system", f"{system!r} is not one of {', '.join(SOURCE_FIELDS)}")
    if source_field not in SOURCE_FIELDS[system]:
        raise fail("source_field", f"{source_field!r} is not one of {', '.join(SOURCE_FIELDS[system])} for {system}")
    if not match_value:
        raise fail("match_value", "is empty (use * to match any value)")
    has_placeholder = "{value}" in target
    if (match_value == WILDCARD) != has_placeholder:
        raise fail("target_group", "must contain {value} exactly when match_value is *")
    if not _GROUP_KEY.match(target.replace("{value}", "x")):
        raise fail("target_group", f"{target!r} is not lowercase letters, digits and -")
    if not display:
        raise fail("display_name", "is empty")
    return GroupRule(rule_id, system, source_field, match_value, target, display)


def slug(value: str) -> str:
    """How a wildcard value enters a group key (the SQL does the same: membership.sql)."""
    return re.sub(r"[^a-z0-9]+", "-", value.strip().lower()).strip("-")
