"""Values bound for ``audit.quarantine``: whatever a source sent must be storable as it was.

Postgres ``text`` and ``jsonb`` refuse the NUL character (``json.dumps`` writes it as
``\\u0000``, which jsonb rejects as "unsupported Unicode escape sequence"). A record
quarantined *because* it carries a NUL must still land in quarantine, so NUL is stored
as the visible six characters ``\\u0000`` (a backslash, then ``u0000``): the reviewer
sees where it was, and nothing else of the record changes.
"""

from __future__ import annotations

import json
from typing import Any

NUL = "\x00"
NUL_MARK = "\\u0000"


def storable_text(value: str | None) -> str | None:
    """``value`` with every NUL replaced by the literal ``\\u0000`` (None stays None).

    A lone UTF-16 surrogate (which no UTF-8 column can hold) becomes its ``\\udXXX`` text too.
    """
    if value is None:
        return None
    if NUL in value:
        value = value.replace(NUL, NUL_MARK)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "backslashreplace").decode("utf-8")
    return value


def record_json(record: Any) -> str:
    """The JSON text of a raw record for a ``jsonb`` column, NULs made visible (keys too)."""
    return json.dumps(_clean(record), default=str, ensure_ascii=False)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return {storable_text(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value
