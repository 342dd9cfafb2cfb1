"""What audit.quarantine stores of a record is bounded (credsync.quality.quarantine): long strings
cut with their length and sha256, a huge record replaced by a stub naming its size and hash."""

from __future__ import annotations

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from credsync.quality.quarantine import (
    CUT_MARK,
    CUT_TEXT_HEAD,
    MAX_STORED_RECORD,
    MAX_STORED_TEXT,
    capped,
    cut_text,
    record_json,
)

TEN_MB = 10 * 1024 * 1024


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_a_10_mb_name_is_stored_cut_naming_its_length_and_hash() -> None:
    name = "A" * TEN_MB
    text = record_json({"employee_id": "CX0209", "name": {"given": name, "family": "Huge"}})
    assert len(text.encode("utf-8")) < MAX_STORED_RECORD
    stored = json.loads(text)
    given = stored["name"]["given"]
    assert given.startswith("A" * CUT_TEXT_HEAD + CUT_MARK)
    assert f"{TEN_MB} characters, sha256 {sha256(name)}]" in given
    assert stored["employee_id"] == "CX0209" and stored["name"]["family"] == "Huge"


def test_strings_up_to_the_limit_are_kept_whole() -> None:
    record = {"a": "x" * MAX_STORED_TEXT, "b": [1, 2.5, None, True], "c": "ok"}
    assert json.loads(record_json(record)) == record
    assert cut_text("y" * (MAX_STORED_TEXT + 1)).endswith(f"{MAX_STORED_TEXT + 1} characters, sha256 "
                                                         f"{sha256('y' * (MAX_STORED_TEXT + 1))}]")


def test_a_long_key_and_a_nul_in_the_kept_head_are_stored_too() -> None:
    key = "k\x00" + "k" * 9000
    stored = json.loads(record_json({key: "v\x00" + "v" * 9000}))
    [(stored_key, value)] = stored.items()
    assert stored_key.startswith("k\\u0000k") and f"{len(key)} characters, sha256 {sha256(key)}" in stored_key
    assert value.startswith("v\\u0000v") and "9002 characters" in value
    assert "\x00" not in stored_key + value


def test_a_record_too_big_after_cutting_its_strings_becomes_a_stub_with_size_and_hash() -> None:
    record = {"items": [{"n": n, "text": "t" * 1000} for n in range(1000)]}  # ~1 MB of short strings
    original = json.dumps(record, ensure_ascii=False).encode("utf-8")
    text = record_json(record)
    assert len(text.encode("utf-8")) < MAX_STORED_RECORD
    stub = json.loads(text)["record_cut"]
    assert (stub["json_bytes"], stub["sha256"]) == (len(original), hashlib.sha256(original).hexdigest())
    assert stub["head"].startswith('{"items": [{"n": 0, "text": "ttt')


def test_non_finite_numbers_are_stored_as_their_names() -> None:
    assert json.loads(record_json({"score": float("nan"), "max": float("inf")})) == {"score": "nan", "max": "inf"}


@given(st.recursive(st.text(max_size=50) | st.integers() | st.floats() | st.none(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner,
                                                                                 max_size=4),
                    max_leaves=20),
       st.integers(min_value=0, max_value=3 * MAX_STORED_TEXT))
def test_any_record_is_stored_within_the_caps(record, padding) -> None:
    record = {"record": record, "long": "p" * padding}
    text = record_json(record)
    json.loads(text)  # valid JSON: no NaN / Infinity (jsonb refuses them)
    assert len(text.encode("utf-8")) <= MAX_STORED_RECORD
    assert capped(record) == json.loads(text)
