"""Failed GX expectations name the offending records (credsync.quality.gate._describe).

The shapes are GX 1.x COMPLETE results with ``unexpected_index_column_names``, as the
checkpoint asks for them; the integration tests run the real gate.
"""

from __future__ import annotations

from credsync.quality.gate import KEY_COLUMNS, _describe

LMS_KEYS = KEY_COLUMNS["staging.completions"]
HRIS_KEYS = KEY_COLUMNS["staging.hris_workers"]


def result(kind: str, kwargs: dict, rule: str, res: dict, description: str | None = None) -> dict:
    config = {"type": kind, "kwargs": kwargs, "meta": {"rule": rule}}
    if description:
        config["description"] = description
    return {"success": False, "expectation_config": config, "result": res}


def test_null_verb_names_the_statement_ids() -> None:
    item = result("expect_column_values_to_not_be_null", {"column": "verb"}, "known_verb", {
        "unexpected_count": 2, "partial_unexpected_list": [None, None],
        "unexpected_index_list": [{"source_id": "st-1", "row_number": 3, "verb": None},
                                  {"source_id": None, "row_number": 9, "verb": None}]})
    assert _describe(item, LMS_KEYS) == ("known_verb(verb): 2 offending records, "
                                         "e.g. st-1 (verb None), row 9 (verb None)")


def test_duplicate_statement_id_names_it() -> None:
    item = result("unexpected_rows_expectation", {"unexpected_rows_query": "..."}, "unique_source_id", {
        "observed_value": 1,
        "details": {"unexpected_rows": [{"source_id": "st-7", "row_number": 2, "problem": "xapi id in 2 rows (2, 5)"}]},
    }, description="statement / enrollment ids are unique within the batch")
    assert _describe(item, LMS_KEYS) == ("unique_source_id [statement / enrollment ids are unique within the batch]: "
                                         "1 offending record, e.g. st-7 (xapi id in 2 rows (2, 5))")


def test_email_format_names_the_employee_and_caps_the_examples() -> None:
    rows = [{"employee_id": f"E{i:06d}", "row_number": i, "work_email": f"bad{i}"} for i in range(1, 9)]
    item = result("expect_column_values_to_match_regex", {"column": "work_email"}, "email_format",
                  {"unexpected_count": 8, "unexpected_index_list": rows})
    text = _describe(item, HRIS_KEYS)
    assert text.startswith("email_format(work_email): 8 offending records, e.g. E000001 (work_email 'bad1'), ")
    assert "E000005" in text and "E000006" not in text


def test_without_key_columns_the_old_summary_stays() -> None:
    item = result("expect_column_values_to_be_in_set", {"column": "status"}, "status_allowed",
                  {"unexpected_count": 1, "partial_unexpected_list": ["x"]})
    assert _describe(item) == "status_allowed(status): 1 unexpected, e.g. ['x']"
