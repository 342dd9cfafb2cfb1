"""Quarantine values survive NUL and lone surrogates (credsync.quality.quarantine)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from credsync.quality.quarantine import record_json, storable_text


def test_nul_is_kept_visible_in_values_and_keys() -> None:
    text = record_json({"name\x00": ["a\x00b", {"c": "\x00"}], "n": 1, "none": None})
    assert "\\u0000" not in text.replace("\\\\u0000", "")  # no real NUL escape left for jsonb to refuse
    assert json.loads(text) == {"name\\u0000": ["a\\u0000b", {"c": "\\u0000"}], "n": 1, "none": None}
    assert storable_text("x\x00") == "x\\u0000" and storable_text(None) is None


@given(st.recursive(st.text() | st.integers() | st.none(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                    max_leaves=10))
def test_any_record_becomes_storable_json(record) -> None:
    text = record_json(record)
    text.encode("utf-8")  # no lone surrogate left: Postgres gets valid UTF-8
    assert not any("\x00" in s for s in strings(json.loads(text))), "jsonb would refuse the \\u0000 escape"


def strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)
