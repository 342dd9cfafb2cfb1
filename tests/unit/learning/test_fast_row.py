"""The clean-statement fast path gives exactly the full path's result, and is taken for ordinary statements.

The full path (generic text checks + the mapping engine) is the reference: for any input, the
normalised row with the fast path on must equal the row with it off — same columns, same
quarantine rule and reason, same stored JSON value.
"""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import credsync.learning.normalise as normalise
from credsync.learning.fast_row import fast_row
from tests.unit.learning.test_normalise_properties import NOW, PROPERTY_SETTINGS, VALID, statements

# Values a clean-looking statement may carry that the fast path must notice (or hand over).
TRICKY = ["", " ", " E1", "E1 ", "E\u00e9", "E\u202e1", "E\u20281", "E\x7f", "E\x85", "E\n1", 'E"1', "E\\1",
          "null", "NaN", float("nan"), float("inf"), 1e309, -0.0, 7, True, None, [], {}, {"a": 1}, "x" * 300,
          "x" * 3000, "x" * 10_001, "2025-05-01", "2025-05-01T10:00:00", "2025-05-01T10:00:00z",
          "  2025-05-01T10:00:00Z  ", "2999-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00",
          "mailto:Ann+lms@Acme.example", "http://adlnet.gov/expapi/verbs/voided", "StatementRef",
          {"scaled": 1.5}, {"scaled": True}, {"raw": 5, "min": 5, "max": 5}, {"raw": 8, "max": 10},
          {"raw": "8", "max": 10}, {"scaled": 0.5, "x" * 10_001: 1}, 150, 99.99999]  # fmt: skip
PATHS = [("id",), ("actor", "mbox"), ("actor", "mbox_sha1sum"), ("actor", "account", "name"),
         ("actor", "account", "homePage"), ("actor", "account"), ("actor",), ("verb", "id"), ("verb",),
         ("object", "id"), ("object", "objectType"), ("object",), ("result", "score"), ("result", "success"),
         ("result", "completion"), ("result",), ("context", "registration"), ("context",), ("timestamp",),
         ("stored",), ("version",), ("actor.mbox",), ("object", "definition", "name", "en-US")]  # fmt: skip


def both_paths(statement: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    monkeypatch.setattr(normalise, "FAST_PATH", True)
    fast = normalise.normalise_statement(copy.deepcopy(statement), tenant_id="acme", row_number=3, now=NOW)
    monkeypatch.setattr(normalise, "FAST_PATH", False)
    full = normalise.normalise_statement(copy.deepcopy(statement), tenant_id="acme", row_number=3, now=NOW)
    return fast, full


def assert_same(fast: Any, full: Any) -> None:
    assert {k: v for k, v in vars(fast).items() if k != "raw_json"} == \
        {k: v for k, v in vars(full).items() if k != "raw_json"}
    if fast.raw_json is not None and full.raw_json is not None:
        assert json.loads(fast.raw_json) == json.loads(full.raw_json)  # the same jsonb value is staged


def mutated(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    statement = copy.deepcopy(VALID)
    node = statement
    for part in path[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[path[-1]] = value
    return statement


@pytest.mark.parametrize("path", PATHS, ids=".".join)
def test_every_tricky_value_in_every_mapped_field_gives_the_full_paths_row(path, monkeypatch) -> None:
    for value in TRICKY:
        fast, full = both_paths(mutated(path, value), monkeypatch)
        assert_same(fast, full)


@PROPERTY_SETTINGS
@given(statements())
def test_any_statement_gives_the_full_paths_row(statement: Any) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, full = both_paths(statement, monkeypatch)
    assert_same(fast, full)


@given(st.sampled_from(PATHS), st.sampled_from(TRICKY))
def test_a_value_the_fast_path_takes_is_mapped_as_the_engine_maps_it(path, value) -> None:
    statement = mutated(path, value)
    taken = fast_row(statement, *normalise.XAPI_MAPPING)
    if taken is None:
        return
    row, text = taken
    assert row == normalise.load_mapping(*normalise.XAPI_MAPPING).apply(statement)
    assert json.loads(text) == statement


def test_ordinary_statements_take_the_fast_path_as_the_lrs_sends_them() -> None:
    from sandbox.synth.learning import iter_statements

    sent = msgspec.json.decode(msgspec.json.encode(list(itertools.islice(iter_statements("acme", 800, 7), 500))))
    for statement in sent:
        statement.setdefault("stored", statement.get("timestamp"))
    taken = [fast_row(statement, *normalise.XAPI_MAPPING) for statement in sent]
    assert all(t is not None for t in taken)  # a fast path that is never taken would hide nothing but cost
    assert fast_row(VALID, *normalise.XAPI_MAPPING) is not None


def test_hostile_text_always_takes_the_full_path() -> None:
    for value in ("E\x00", "E\ud800", "E\u202e", "E\x9b", "E\t1", float("nan")):
        assert fast_row(mutated(("actor", "account", "name"), value), *normalise.XAPI_MAPPING) is None
