"""CSV cells that a spreadsheet cannot run as a formula (CSV / formula injection, OWASP).

Excel, LibreOffice and Google Sheets evaluate a cell whose text starts with
``=``, ``+``, ``-`` or ``@`` (and, after trimming, a leading tab or carriage
return) as a formula: an HRIS name or id like ``=cmd|' /C calc'!A0`` in a
payroll file runs on the payroll clerk's machine. Every CSV credsync writes
passes each text cell through :func:`safe_cell`, which prefixes such text with
a single quote, as OWASP recommends; spreadsheets show the quote-prefixed
cell as plain text.

Numbers are a choice: OWASP escapes a leading ``-`` too, because ``-1+cmd``
is a formula. :func:`safe_cell` escapes every *text* cell that starts with a
trigger, negative-looking text included; only typed numbers (``int``,
``float``, ``Decimal``) pass unchanged, so a numeric column written from
numbers stays numeric. credsync's payroll CSV has no numeric columns (ids,
flags, ``true``/``false``, ISO dates), so nothing legitimate there changes.
Fullwidth forms (U+FF1D, U+FF0B, U+FF0D, U+FF20) are escaped as well: some spreadsheets fold
them to their ASCII twins.

Rows: :func:`writer` ends lines with CRLF (RFC 4180). Python's ``csv`` quotes
only cells holding a character of the line terminator, so with ``\n`` endings
a bare CR inside an id was written unquoted, and Excel or ``csv.reader``
split the row there, shifting its cells into a row of their own. With CRLF
every cell holding CR or LF is quoted.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TextIO

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: object) -> object:
    """``value`` ready for ``csv.writer``: text starting with a formula trigger gets a leading ``'``."""
    if value is None or isinstance(value, bool | int | float | Decimal):
        return value
    text = value if isinstance(value, str) else str(value)
    return "'" + text if text.startswith(FORMULA_TRIGGERS) else text


def safe_row(values: Iterable[object]) -> list[object]:
    """Every cell of one CSV row through :func:`safe_cell`."""
    return [safe_cell(value) for value in values]


class SafeWriter:
    """``csv.writer`` whose every row goes through :func:`safe_row`."""

    def __init__(self, handle: TextIO, **fmtparams: Any) -> None:
        self._writer = csv.writer(handle, **{"lineterminator": "\r\n", **fmtparams})

    def writerow(self, row: Iterable[object]) -> Any:
        return self._writer.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)


def writer(handle: TextIO, **fmtparams: Any) -> SafeWriter:
    """The CSV writer for every file credsync writes (open ``handle`` with ``newline=""``)."""
    return SafeWriter(handle, **fmtparams)


__all__ = ["FORMULA_TRIGGERS", "SafeWriter", "safe_cell", "safe_row", "writer"]
