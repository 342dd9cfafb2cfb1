"""Saudi National ID / Iqama numbers: what a valid one looks like.

- 10 ASCII digits (Eastern Arabic-Indic digits U+0660-U+0669 as sent by Arabic keyboards are read as
  their ASCII values; anything else — spaces, dashes, other scripts' digits — is refused).
- The first digit says who holds it: ``1`` a citizen (National ID), ``2`` a resident (Iqama);
  ``4`` is also accepted because NELC's integration guide lists 1, 2 or 4 as valid first digits.
- The last digit is a Luhn check digit over the other nine for ``1`` and ``2`` numbers (the
  published algorithm: digits in odd positions doubled, digit sums added, total divisible by 10).
  For ``4`` numbers no check-digit algorithm is published; only the form is checked
  (docs/national.md says so).

Plain Python: the HRIS mapping (transform ``saudi_national_id``), the GX gate and the NELC
checklist all use :func:`validate`.
"""

from __future__ import annotations

import re

from stdnum import luhn

RULE = "national_id_invalid"
PREFIXES = {"1": "citizen", "2": "resident", "4": "other"}
CHECKED_PREFIXES = frozenset("12")
#: The form the GX gate and the LRS sandbox re-check (no check digit in a regex).
FORM = r"^[124][0-9]{9}$"
_EASTERN = str.maketrans({0x0660 + d: str(d) for d in range(10)})
_DIGITS = re.compile(r"[0-9]{10}")


class InvalidNationalId(ValueError):
    """Not a valid National ID / Iqama; ``check`` names what failed (length, prefix, check_digit)."""

    def __init__(self, message: str, check: str) -> None:
        super().__init__(message)
        self.check = check


def validate(value: object) -> str:
    """The National ID / Iqama ``value`` as 10 ASCII digits, or :class:`InvalidNationalId`."""
    text = str(value).translate(_EASTERN)
    if not _DIGITS.fullmatch(text):
        raise InvalidNationalId(f"national id must be exactly 10 digits, got {len(text)} characters", "length")
    if text[0] not in PREFIXES:
        raise InvalidNationalId(f"national id must start with 1 (citizen), 2 (resident) or 4, not {text[0]}",
                                "prefix")
    if text[0] in CHECKED_PREFIXES and not luhn.is_valid(text):
        raise InvalidNationalId("national id check digit does not match (Luhn)", "check_digit")
    return text


def is_valid(value: object) -> bool:
    try:
        validate(value)
    except InvalidNationalId:
        return False
    return True


def with_check_digit(first_nine: str) -> str:
    """``first_nine`` plus its Luhn check digit (synthetic data and tests)."""
    return first_nine + luhn.calc_check_digit(first_nine)
