"""The marketplace sandbox's bulk file reading, on hostile input: every line ends imported or rejected with a reason."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.marketplace.bulk import CSV, NDJSON, UnreadableFile, parse

GOOD = {"member_id": "E-1", "email": "ada@acme.example"}
lines = st.one_of(
    st.just(json.dumps(GOOD)),
    st.builds(lambda n: json.dumps({**GOOD, "member_id": f"E-{n}"}), st.integers(0, 50)),
    st.text(max_size=40).filter(lambda text: "\n" not in text and "\r" not in text),
    st.builds(json.dumps, st.dictionaries(st.sampled_from(["member_id", "email", "score", "x"]),
                                          st.one_of(st.text(max_size=8), st.integers(), st.none()), max_size=4)),
)


def _content_lines(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines, max_size=12), st.booleans())
def test_every_ndjson_line_is_imported_or_rejected_with_its_line_number(body: list[str], zipped: bool) -> None:
    text = "\n".join(body) + "\n"
    raw = gzip.compress(text.encode()) if zipped else text.encode()
    result = parse(raw, NDJSON, "gzip" if zipped else None)
    assert len(result.members) + len(result.errors) == _content_lines(text)
    imported = [member["member_id"] for _, member in result.members]
    assert len(imported) == len(set(imported)), "a member imported twice from one file"
    for error in result.errors:
        assert error["code"] in {"malformed_line", "validation_failed", "duplicate_member"} and error["detail"]
        assert 1 <= error["line"] <= len(text.splitlines())


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_read_or_refused_as_a_whole(raw: bytes) -> None:
    for media_type, encoding in ((NDJSON, None), (NDJSON, "gzip"), (CSV, None)):
        try:
            result = parse(raw, media_type, encoding)
        except UnreadableFile as exc:
            assert str(exc)
            continue
        assert all(error["line"] >= 1 for error in result.errors)


def test_csv_rows_spanning_lines_report_the_line_they_end_on() -> None:
    text = ('member_id,email,learning_completed\n'
            'E-1,e-1@acme.example,"[{""course_id"": ""A"",\n""completed"": true}]"\n'
            'E-2,E-2@ACME.example,\n')
    result = parse(text.encode(), CSV, None)
    assert [member["member_id"] for _, member in result.members] == ["E-1"]
    assert [(e["line"], e["member_id"], e["code"]) for e in result.errors] == [(4, "E-2", "validation_failed")]


@pytest.mark.parametrize("header", ["email\n", "member_id,email,salary\n"])
def test_a_csv_without_the_mapped_header_fails_whole(header: str) -> None:
    with pytest.raises(UnreadableFile):
        parse(header.encode(), CSV, None)
