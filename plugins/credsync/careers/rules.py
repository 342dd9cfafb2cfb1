"""Career-path rules from include/career_paths/career_paths_v<N>.yaml, validated at load.

Plain Python (no Airflow). Errors name the file, the rule and the field, so a bad edit is fixed
from the task log alone. Credential types are checked against include/mappings/credential_rules.csv:
a rule keyed to a type credsync never issues could never be met and would sit silent.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credsync.paths import INCLUDE_DIR

CAREER_PATHS_DIR = INCLUDE_DIR / "career_paths"
RULES_FILE = CAREER_PATHS_DIR / "career_paths_v1.yaml"
APPROVERS = ("manager", "hrbp")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_RULE_FIELDS = {"rule_id", "rule_version", "description", "eligible_for", "credentials", "prerequisites",
                "approver", "hrbp_group", "respondents"}
_PREREQUISITE_FIELDS = {"credentials", "min_tenure_days", "departments"}


class CareerPathRulesError(ValueError):
    """The rules file is invalid; the message names the file, rule and field."""


@dataclass(frozen=True)
class CareerPathRule:
    """One rule: who meets it, what it grants, who decides."""

    rule_id: str
    rule_version: int
    eligible_for: str
    credentials: tuple[str, ...]               # the types the rule is keyed to
    prerequisite_credentials: tuple[str, ...]  # other types that must be held active too
    min_tenure_days: int | None
    departments: tuple[str, ...] | None        # job family: the HRIS department
    approver: str                              # manager | hrbp
    hrbp_group: str
    respondents: tuple[str, ...] = ()
    description: str = ""

    @property
    def required_types(self) -> tuple[str, ...]:
        """Every credential type that must be held active, each once."""
        return tuple(sorted(set(self.credentials) | set(self.prerequisite_credentials)))

    def as_sql_row(self) -> dict[str, Any]:
        """The rule as one row of the evaluation SQL's ``jsonb_to_recordset``."""
        return {"rule_id": self.rule_id, "rule_version": self.rule_version, "eligible_for": self.eligible_for,
                "credential_types": list(self.required_types), "min_tenure_days": self.min_tenure_days,
                "departments": list(self.departments) if self.departments is not None else None,
                "approver": self.approver, "hrbp_group": self.hrbp_group}


@dataclass(frozen=True)
class CareerPathRules:
    path: Path
    version: int
    rules: tuple[CareerPathRule, ...]

    def rule(self, rule_id: str) -> CareerPathRule | None:
        return next((r for r in self.rules if r.rule_id == rule_id), None)

    def sql_rows(self) -> str:
        """All rules as the JSON text the evaluation SQL reads."""
        return json.dumps([r.as_sql_row() for r in self.rules])


def known_credential_types(csv_path: Path | None = None) -> frozenset[str]:
    """Credential types credsync issues (include/mappings/credential_rules.csv)."""
    from credsync.credentials.rules import load_rules

    return frozenset(r.credential_type for r in (load_rules(csv_path) if csv_path else load_rules()))


def load_career_path_rules(path: Path = RULES_FILE, *,
                           credential_types: frozenset[str] | None = None) -> CareerPathRules:
    """Read and validate ``path``; ``credential_types`` defaults to :func:`known_credential_types`."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CareerPathRulesError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise CareerPathRulesError(f"{path}: expected a mapping with 'version' and 'rules' at the top level")
    unknown = set(raw) - {"version", "rules"}
    if unknown:
        raise CareerPathRulesError(f"{path}: unknown top-level key(s) {sorted(unknown)}")
    version = raw.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CareerPathRulesError(f"{path}: 'version' must be a positive integer, got {version!r}")
    items = raw.get("rules")
    if not isinstance(items, list) or not items:
        raise CareerPathRulesError(f"{path}: 'rules' must be a non-empty list")
    types = known_credential_types() if credential_types is None else credential_types
    rules: list[CareerPathRule] = []
    for index, item in enumerate(items):
        rule = _rule(path, index, item, types)
        if any(r.rule_id == rule.rule_id for r in rules):
            raise CareerPathRulesError(f"{path}: rule {rule.rule_id!r}: field 'rule_id': declared twice")
        rules.append(rule)
    return CareerPathRules(path, version, tuple(rules))


def _rule(path: Path, index: int, item: Any, types: frozenset[str]) -> CareerPathRule:
    where = f"{path}: rule #{index + 1}"
    if not isinstance(item, dict):
        raise CareerPathRulesError(f"{where}: expected a mapping, got {type(item).__name__}")
    if isinstance(item.get("rule_id"), str) and item["rule_id"]:
        where = f"{path}: rule {item['rule_id']!r}"

    def fail(field: str, message: str) -> CareerPathRulesError:
        return CareerPathRulesError(f"{where}: field {field!r}: {message}")

    unknown = set(item) - _RULE_FIELDS
    if unknown:
        raise fail(sorted(unknown)[0], f"unknown field (allowed: {', '.join(sorted(_RULE_FIELDS))})")
    rule_id = _identifier(item, "rule_id", fail)
    version = item.get("rule_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise fail("rule_version", f"must be a positive integer, got {version!r}")
    eligible_for = _identifier(item, "eligible_for", fail)
    credentials = _types(item.get("credentials"), "credentials", types, fail, required=True)
    prerequisites = item.get("prerequisites") or {}
    if not isinstance(prerequisites, dict):
        raise fail("prerequisites", "must be a mapping")
    unknown = set(prerequisites) - _PREREQUISITE_FIELDS
    if unknown:
        raise fail(f"prerequisites.{sorted(unknown)[0]}",
                   f"unknown field (allowed: {', '.join(sorted(_PREREQUISITE_FIELDS))})")
    others = _types(prerequisites.get("credentials"), "prerequisites.credentials", types, fail, required=False)
    if set(others) & set(credentials):
        raise fail("prerequisites.credentials", f"{sorted(set(others) & set(credentials))} already in 'credentials'")
    tenure = prerequisites.get("min_tenure_days")
    if tenure is not None and (not isinstance(tenure, int) or isinstance(tenure, bool) or tenure < 0):
        raise fail("prerequisites.min_tenure_days", f"must be a whole number of days >= 0, got {tenure!r}")
    departments = prerequisites.get("departments")
    if departments is not None:
        if not isinstance(departments, list) or not departments or not all(
                isinstance(d, str) and d.strip() for d in departments):
            raise fail("prerequisites.departments", "must be a non-empty list of HRIS department names")
        departments = tuple(d.strip() for d in departments)
    approver = item.get("approver")
    if approver not in APPROVERS:
        raise fail("approver", f"must be one of {', '.join(APPROVERS)}, got {approver!r}")
    hrbp_group = _identifier(item, "hrbp_group", fail,
                             why="who decides for approver hrbp and for a worker without a manager")
    respondents = item.get("respondents") or []
    if not isinstance(respondents, list) or not all(isinstance(r, str) and r.strip() for r in respondents):
        raise fail("respondents", "must be a list of Airflow user ids")
    description = item.get("description") or ""
    if not isinstance(description, str):
        raise fail("description", "must be text")
    return CareerPathRule(rule_id, version, eligible_for, credentials, others, tenure, departments, approver,
                          hrbp_group, tuple(r.strip() for r in respondents), description.strip())


def _identifier(item: dict, field: str, fail: Any, why: str = "") -> str:
    value = item.get(field)
    if not isinstance(value, str) or not _ID.match(value):
        hint = f" ({why})" if why else ""
        raise fail(field, f"required: lowercase letters, digits, '-' or '_'{hint}; got {value!r}")
    return value


def _types(value: Any, field: str, known: frozenset[str], fail: Any, *, required: bool) -> tuple[str, ...]:
    if value is None and not required:
        return ()
    if not isinstance(value, list) or (required and not value) or not all(isinstance(v, str) for v in value):
        raise fail(field, "must be a " + ("non-empty " if required else "") + "list of credential types")
    if len(set(value)) != len(value):
        raise fail(field, "lists a credential type twice")
    missing = sorted(set(value) - known)
    if missing:
        raise fail(field, f"unknown credential type(s) {missing}: not in include/mappings/credential_rules.csv "
                          f"(known: {', '.join(sorted(known))})")
    return tuple(value)
