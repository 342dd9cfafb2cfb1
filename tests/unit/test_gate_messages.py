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


MASS = "80 of 277 current workers (28.9%) would be terminated, limit 20%"


def mass_termination() -> dict:
    rows = [{"employee_id": f"E{i:06d}", "row_number": i, "problem": MASS} for i in range(1, 81)]
    return result("unexpected_rows_expectation", {"unexpected_rows_query": "..."}, "mass_termination",
                  {"observed_value": 80, "details": {"unexpected_rows": rows}},
                  description="delta terminates at most 20% of the current workforce")


def test_a_batch_level_rule_says_its_counts_and_limit_once_in_words() -> None:
    text = _describe(mass_termination(), HRIS_KEYS)
    assert text == ("mass_termination [delta terminates at most 20% of the current workforce]: "
                    f"{MASS}; 80 offending records, e.g. E000001, E000002, E000003, E000004, E000005")


def test_the_verdict_comes_first_and_says_what_to_do(tmp_path, monkeypatch) -> None:
    from credsync.quality.gate import verdict

    store = (tmp_path / "docs").as_uri()
    monkeypatch.setenv("CREDSYNC_DATA_DOCS_STORE", store)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://127.0.0.1:8080")
    failed = [_describe(mass_termination(), HRIS_KEYS), "quarantine_share: 3 of 277 records quarantined"]
    text = verdict("GX gate hris_workers on staging.hris_workers tenant=acme batch=b1", success=False,
                   failed=failed, statistics={"evaluated_expectations": 16, "successful_expectations": 15},
                   batch_checks=1, data_docs_url=f"{store}/acme/validations/hris_workers/p.html",
                   suite_name="hris_workers", tenant_id="acme")
    lines = text.splitlines()
    assert lines[0] == ("GX gate hris_workers on staging.hris_workers tenant=acme batch=b1: BLOCKED, 2 of 17 checks "
                        "failed: mass_termination, quarantine_share. Nothing reached core.")
    assert lines[1].startswith(f"- mass_termination [delta terminates at most 20% of the current workforce]: {MASS}")
    assert lines[3].startswith("What to do: docs/runbook.md#a-rejected-hris-batch-hris_delta_export-task-gate")
    assert lines[4] == "Data Docs: http://127.0.0.1:8080/credsync-ui/data-docs/acme/validations/hris_workers/p.html"
    assert all(len(line) < 300 for line in lines)


def test_gx_info_logging_is_quiet_during_a_gate_and_restored_after(caplog) -> None:
    import logging

    from credsync.quality.gate import quiet_gx

    noisy = logging.getLogger("great_expectations._docs_decorators")
    noisy.setLevel(logging.INFO)
    with caplog.at_level(logging.INFO), quiet_gx():
        noisy.info("Skipping registering function")
        logging.getLogger("great_expectations").warning("a real problem")
        logging.getLogger("credsync.quality.gate").info("the verdict")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["a real problem", "the verdict"]
    assert noisy.level == logging.INFO
