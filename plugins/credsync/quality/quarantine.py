"""Values bound for ``audit.quarantine``: whatever a source sent must be storable as it was.

Postgres ``text`` and ``jsonb`` refuse the NUL character (``json.dumps`` writes it as
``\\u0000``, which jsonb rejects as "unsupported Unicode escape sequence"). A record
quarantined *because* it carries a NUL must still land in quarantine, so NUL is stored
as the visible six characters ``\\u0000`` (a backslash, then ``u0000``): the reviewer
sees where it was, and nothing else of the record changes.

A quarantined record is kept for a reviewer to recognise, not as the only copy (the source
keeps the original), so what is stored is bounded: a string value (or key) longer than
:data:`MAX_STORED_TEXT` characters keeps its first :data:`CUT_TEXT_HEAD` characters and a
marker with its length and the sha256 of its UTF-8 text (:func:`cut_text`), and a record
whose JSON text is still over :data:`MAX_STORED_RECORD` bytes is replaced by
``{"record_cut": {"json_bytes", "sha256", "head"}}`` (:func:`capped`). The length and hash
identify the value at its source: ``sha256sum`` of the field's text there gives the same hash.
Both ingestion paths store what :func:`record_json` / :func:`capped` make of a record.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from typing import Any

NUL = "\x00"
#: What Postgres refuses in any text or jsonb value: NUL, and lone surrogates (they have no UTF-8 form).
REFUSED_BY_POSTGRES = re.compile("[\x00\ud800-\udfff]")
NUL_MARK = "\\u0000"
#: A string value or key longer than this many characters is stored cut (:func:`cut_text`).
MAX_STORED_TEXT = 4096
#: How many characters of a cut string are kept, before the marker.
CUT_TEXT_HEAD = 1024
#: A stored record's JSON text (UTF-8 bytes) over this is replaced by a ``record_cut`` stub.
MAX_STORED_RECORD = 256 * 1024
#: How many characters of the (string-cut) JSON text a ``record_cut`` stub keeps.
RECORD_HEAD = 4096
#: What follows the kept head of a cut string: ``...[cut by credsync: N characters, sha256 H]``.
CUT_MARK = "...[cut by credsync: "


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


def cut_text(value: str) -> str:
    """``value`` if it has at most :data:`MAX_STORED_TEXT` characters; else its head and a marker
    naming its length (characters) and the sha256 of its UTF-8 text, e.g.
    ``AAAA…AAAA...[cut by credsync: 10485760 characters, sha256 2b6f…]``."""
    if len(value) <= MAX_STORED_TEXT:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{value[:CUT_TEXT_HEAD]}{CUT_MARK}{len(value)} characters, sha256 {digest}]"


def capped(record: Any) -> Any:
    """What ``audit.quarantine.record`` keeps of ``record``: NULs and lone surrogates made visible,
    non-finite numbers as their names (jsonb refuses them), long strings and keys cut
    (:func:`cut_text`), and the whole replaced by a ``record_cut`` stub when its JSON text is
    still over :data:`MAX_STORED_RECORD` bytes (many values, deep nesting)."""
    kept = _clean(record)
    text = json.dumps(kept, default=str, ensure_ascii=False)
    size = len(text.encode("utf-8"))
    if size <= MAX_STORED_RECORD:
        return kept
    original = json.dumps(record, default=str, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return {"record_cut": {
        "json_bytes": len(original),
        "sha256": hashlib.sha256(original).hexdigest(),
        "head": storable_text(text[:RECORD_HEAD]),
        "note": f"record over {MAX_STORED_RECORD} bytes as JSON: json_bytes and sha256 are of its full JSON text"
                " (json.dumps, ensure_ascii=False, UTF-8); head is the start of the stored form",
    }}


def record_json(record: Any) -> str:
    """The JSON text of a raw record for a ``jsonb`` column: :func:`capped`, serialised."""
    return json.dumps(capped(record), default=str, ensure_ascii=False)


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return storable_text(cut_text(value))
    if isinstance(value, dict):
        return {storable_text(cut_text(str(k))): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return value
