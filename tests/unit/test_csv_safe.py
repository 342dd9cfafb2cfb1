"""safe_cell: text that a spreadsheet would run as a formula gets a leading quote; nothing else changes."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from credsync.csv_safe import FORMULA_TRIGGERS, safe_cell, safe_row


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "\uff1d1+1",
                                  "=cmd|' /C calc'!A0"])
def test_formula_starts_are_quoted(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize("value", ["E000001", "2025-01-02", "true", "", "a=b", "x-1", " =1", "'quoted"])
def test_other_text_is_unchanged(value: str) -> None:
    assert safe_cell(value) == value


def test_typed_numbers_stay_numbers_even_when_negative() -> None:
    assert safe_row([-5, -1.5, Decimal("-2.50"), 0, True, None]) == [-5, -1.5, Decimal("-2.50"), 0, True, None]
    assert safe_cell("-5") == "'-5", "negative-looking text is escaped (OWASP): it could be -5+cmd"


@given(st.text())
def test_no_escaped_cell_starts_with_a_trigger_and_the_original_is_recoverable(text: str) -> None:
    cell = safe_cell(text)
    assert not cell.startswith(FORMULA_TRIGGERS)
    assert cell == text or (cell == "'" + text and text.startswith(FORMULA_TRIGGERS))
