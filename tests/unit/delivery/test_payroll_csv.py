"""The payroll CSV cannot carry a spreadsheet formula (CSV injection, issue 11 defect 7)."""

from __future__ import annotations

import csv
from datetime import date

from credsync.delivery.writeback import PAYROLL_COLUMNS, Writeback, write_payroll_csv

FORMULA_ID = "=cmd|' /C calc'!A0"


def flag(employee_id: str, credential_type: str = "forklift", credential_id: str = "urn:uuid:c1") -> Writeback:
    return Writeback(employee_id, "payroll_flag", credential_type, credential_id, "active", None,
                     date(2025, 1, 2), date(2027, 1, 2),
                     {"active": True, "effective_from": "2025-01-02", "effective_to": "2027-01-02",
                      "credential_id": credential_id})


def rows(path) -> list[list[str]]:
    with path.open("r", newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_formula_ids_and_names_are_written_as_quoted_text(tmp_path) -> None:
    flags = [flag(FORMULA_ID), flag("+1+cmd", credential_type="@SUM(A1:A9)"),
             flag("-2+3", credential_id="\t=HYPERLINK(\"http://evil\")"), flag("\rE9")]
    path = write_payroll_csv(tmp_path, "acme", date(2026, 3, 2), flags)

    header, *body = rows(path)
    assert tuple(header) == PAYROLL_COLUMNS
    by_id = {row[1]: row for row in body}
    assert set(by_id) == {"'" + FORMULA_ID, "'+1+cmd", "'-2+3", "'\rE9"}
    assert by_id["'+1+cmd"][2] == "'@SUM(A1:A9)"
    assert by_id["'-2+3"][6] == "'\t=HYPERLINK(\"http://evil\")"
    assert not [cell for row in body for cell in row if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_ordinary_rows_are_unchanged(tmp_path) -> None:
    path = write_payroll_csv(tmp_path, "acme", date(2026, 3, 2), [flag("E000001")])

    assert rows(path)[1] == ["acme", "E000001", "forklift", "true", "2025-01-02", "2027-01-02", "urn:uuid:c1"]


def test_a_carriage_return_inside_an_id_cannot_split_the_row(tmp_path) -> None:
    path = write_payroll_csv(tmp_path, "acme", date(2026, 3, 2), [flag("E1\rE666"), flag("E2\nE3")])

    body = rows(path)[1:]
    assert [len(row) for row in body] == [len(PAYROLL_COLUMNS)] * 2
    assert {row[1] for row in body} == {"E1\rE666", "E2\nE3"}
