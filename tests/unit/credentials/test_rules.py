"""Credential rules load from CSV and reject bad cells naming file, row and field."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from credsync.credentials.rules import REQUIRED_COLUMNS, RULES_FILE, RuleConfigError, load_rules

CATALOG = {"CPR-101", "FIRSTAID-110", "FORKLIFT-200", "HAZMAT-300", "SAFETY-100", "FORKLIFT-210"}

GOOD_ROW = {
    "rule_id": "FORKLIFT-OP", "course_codes": "FORKLIFT-200", "credential_type": "forklift_operator",
    "achievement_name": "Forklift operator", "min_score": "80", "validity_days": "1095",
    "renewal_rule": "reissue_within:90", "requires_credential": "", "pay_impact": "true",
    "issuer": "credsync-training", "rule_version": "1", "reminder_days": "90|30|7", "notes": "",
}


def write_rules(tmp_path: Path, *rows: dict[str, str]) -> Path:
    path = tmp_path / "credential_rules.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=REQUIRED_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_shipped_rules_cover_the_catalog_and_forklift_pays() -> None:
    rules = load_rules(RULES_FILE, known_courses=CATALOG)
    covered = {code for rule in rules for code in rule.course_codes}
    assert covered == CATALOG
    by_id = {rule.rule_id: rule for rule in rules}
    assert by_id["FORKLIFT-OP"].pay_impact is True
    assert by_id["FORKLIFT-RECERT"].requires_credential == "forklift_operator"
    assert by_id["FIRST-RESPONDER"].course_codes == ("CPR-101", "FIRSTAID-110")
    assert by_id["SAFETY-ANNUAL"].min_score is None
    assert by_id["CPR-AED"].reminder_days == (60, 30, 7)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("min_score", "140", "outside 0..100"),
        ("min_score", "eighty", "not a number"),
        ("validity_days", "-5", "whole number of days"),
        ("renewal_rule", "renew:60", "reissue_within:60"),
        ("renewal_rule", "reissue_within:2000", "not shorter than validity"),
        ("pay_impact", "yes", "true or false"),
        ("course_codes", "FORKLIFT-200+forklift", "not a course code"),
        ("reminder_days", "60|x", "joined by '|'"),
        ("credential_type", "Forklift Operator", "must match"),
        ("issuer", "", "is required"),
    ],
)
def test_invalid_cell_names_file_row_and_field(tmp_path: Path, field: str, value: str, message: str) -> None:
    other = {**GOOD_ROW, "rule_id": "HAZMAT", "course_codes": "HAZMAT-300", "credential_type": "hazmat"}
    path = write_rules(tmp_path, other, {**GOOD_ROW, field: value})
    with pytest.raises(RuleConfigError) as info:
        load_rules(path)
    assert info.value.row == 3
    assert info.value.field == field
    assert str(path) in str(info.value) and "row 3" in str(info.value) and message in str(info.value)


def test_course_outside_catalog_is_rejected(tmp_path: Path) -> None:
    path = write_rules(tmp_path, {**GOOD_ROW, "course_codes": "CRANE-900"})
    with pytest.raises(RuleConfigError, match="not in the course catalog"):
        load_rules(path, known_courses=CATALOG)


def test_duplicate_rule_id_points_at_both_rows(tmp_path: Path) -> None:
    path = write_rules(tmp_path, GOOD_ROW, GOOD_ROW)
    with pytest.raises(RuleConfigError, match=r"row 3: field 'rule_id': duplicate .* \(first on row 2\)"):
        load_rules(path)


def test_rules_for_one_type_must_agree_on_pay_impact(tmp_path: Path) -> None:
    recert = {**GOOD_ROW, "rule_id": "FORKLIFT-RECERT", "course_codes": "FORKLIFT-210", "pay_impact": "false"}
    path = write_rules(tmp_path, GOOD_ROW, recert)
    with pytest.raises(RuleConfigError, match=r"row 3: field 'pay_impact': differs from rule FORKLIFT-OP"):
        load_rules(path)


def test_missing_column_is_reported_on_the_header_row(tmp_path: Path) -> None:
    path = tmp_path / "credential_rules.csv"
    path.write_text("rule_id,course_codes\nX,CPR-101\n", encoding="utf-8")
    with pytest.raises(RuleConfigError, match=r"row 1: field 'credential_type': missing column"):
        load_rules(path)
