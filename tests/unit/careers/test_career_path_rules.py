"""The career-path rules file: the shipped one loads; each kind of bad edit fails naming rule and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from credsync.careers.rules import RULES_FILE, CareerPathRulesError, known_credential_types, load_career_path_rules

TYPES = frozenset({"forklift_operator", "first_responder", "hazmat_handling", "workplace_safety"})
GOOD_RULE = """
  - rule_id: senior-technician
    rule_version: 1
    eligible_for: senior_technician
    credentials: [forklift_operator]
    prerequisites:
      credentials: [first_responder]
      min_tenure_days: 365
      departments: [Warehouse]
    approver: manager
    hrbp_group: hrbp-operations
"""


def write(tmp_path: Path, rules: str, header: str = "version: 1\nrules:") -> Path:
    path = tmp_path / "career_paths_v1.yaml"
    path.write_text(header + rules + "\n", encoding="utf-8")
    return path


def test_the_shipped_rules_load_against_the_credential_rules_csv():
    rules = load_career_path_rules()
    assert rules.path == RULES_FILE and rules.version == 1
    senior = rules.rule("senior-technician")
    assert senior is not None and senior.eligible_for == "senior_technician"
    assert senior.required_types == ("first_responder", "forklift_operator")
    assert senior.min_tenure_days == 365 and senior.approver == "manager"
    assert all(set(r.required_types) <= known_credential_types() for r in rules.rules)


def test_a_good_rule_becomes_one_sql_row(tmp_path):
    rules = load_career_path_rules(write(tmp_path, GOOD_RULE), credential_types=TYPES)
    assert rules.rules[0].as_sql_row() == {
        "rule_id": "senior-technician", "rule_version": 1, "eligible_for": "senior_technician",
        "credential_types": ["first_responder", "forklift_operator"], "min_tenure_days": 365,
        "departments": ["Warehouse"], "approver": "manager", "hrbp_group": "hrbp-operations"}


@pytest.mark.parametrize(("edit", "message"), [
    (("credentials: [forklift_operator]", "credentials: [forklift_operater]"),
     r"rule 'senior-technician': field 'credentials': unknown credential type\(s\) \['forklift_operater'\]"),
    (("credentials: [forklift_operator]", "credentials: []"),
     r"rule 'senior-technician': field 'credentials': must be a non-empty list"),
    (("rule_version: 1", "rule_version: one"), r"rule 'senior-technician': field 'rule_version': must be a positive"),
    (("rule_version: 1", "rule_version: 0"), r"field 'rule_version'"),
    (("approver: manager", "approver: ceo"),
     r"rule 'senior-technician': field 'approver': must be one of manager, hrbp"),
    (("    hrbp_group: hrbp-operations\n", ""), r"rule 'senior-technician': field 'hrbp_group': required"),
    (("eligible_for: senior_technician", "eligible_for: Senior Technician"), r"field 'eligible_for'"),
    (("min_tenure_days: 365", "min_tenure_days: -3"), r"field 'prerequisites.min_tenure_days'"),
    (("departments: [Warehouse]", "departments: []"), r"field 'prerequisites.departments'"),
    (("departments: [Warehouse]", "job_family: [Warehouse]"), r"field 'prerequisites.job_family': unknown field"),
    (("credentials: [first_responder]", "credentials: [forklift_operator]"),
     r"field 'prerequisites.credentials': \['forklift_operator'\] already in 'credentials'"),
    (("approver: manager", "approver: manager\n    approvr: x"), r"field 'approvr': unknown field"),
])
def test_a_bad_rule_names_the_rule_and_the_field(tmp_path, edit, message):
    old, new = edit
    assert old in GOOD_RULE
    with pytest.raises(CareerPathRulesError, match=message) as caught:
        load_career_path_rules(write(tmp_path, GOOD_RULE.replace(old, new)), credential_types=TYPES)
    assert str(tmp_path / "career_paths_v1.yaml") in str(caught.value), "the error does not name the file"


def test_a_rule_declared_twice_and_file_level_errors(tmp_path):
    with pytest.raises(CareerPathRulesError, match=r"rule 'senior-technician': field 'rule_id': declared twice"):
        load_career_path_rules(write(tmp_path, GOOD_RULE + GOOD_RULE), credential_types=TYPES)
    with pytest.raises(CareerPathRulesError, match=r"'version' must be a positive integer"):
        load_career_path_rules(write(tmp_path, GOOD_RULE, header="version: v1\nrules:"), credential_types=TYPES)
    with pytest.raises(CareerPathRulesError, match=r"'rules' must be a non-empty list"):
        load_career_path_rules(write(tmp_path, "", header="version: 1\nrules: []"), credential_types=TYPES)
    with pytest.raises(CareerPathRulesError, match=r"rule #1: field 'rule_id': required"):
        load_career_path_rules(write(tmp_path, GOOD_RULE.replace("rule_id: senior-technician", "rule_id: ''")),
                               credential_types=TYPES)
    path = tmp_path / "broken.yaml"
    path.write_text("version: 1\nrules: [unclosed\n", encoding="utf-8")
    with pytest.raises(CareerPathRulesError, match=r"not valid YAML"):
        load_career_path_rules(path, credential_types=TYPES)
