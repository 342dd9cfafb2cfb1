"""The mapping engine: versioned CSVs turn nested records into typed flat rows, or name the culprit."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from credsync.mapping import COLUMNS, MappingError, load_mapping

HEADER = ",".join(COLUMNS)


def worker(**employment: object) -> dict:
    record = {
        "employee_id": " E0001 ",
        "source_system": "hris_main",
        "name": {"given": "Ann", "family": "Lee", "preferred": ""},
        "emails": {"work": " Ann.Lee+LMS@Acme.Example ", "personal": "ann@home.example"},
        "employment": {
            "status": "active", "type": "employee", "hire_date": "2020-02-03",
            "termination_date": None, "rehire_date": None, "department": "Ops",
            "job_title": "Operator", "manager_id": "E0000", "location": "Berlin",
        },
        "updated_at": "2024-05-01T10:00:00Z",
    }
    record["employment"].update(employment)
    return record


def write_mapping(tmp_path: Path, *rows: str, name: str = "thing_v1") -> Path:
    path = tmp_path / f"{name}.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def test_hris_worker_v1_maps_nested_record_to_typed_row() -> None:
    mapping = load_mapping("hris_worker", "v1")
    row = mapping.apply(worker())
    assert mapping.mapping_version == "hris_worker_v1"
    assert row["employee_id"] == "E0001"
    assert row["work_email"] == "ann.lee+lms@acme.example"
    assert row["email_normalized"] == "ann.lee@acme.example"
    assert row["preferred_name"] is None
    assert row["hire_date"] == date(2020, 2, 3)
    assert row["source_updated_at"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert "salary_band" not in row  # compensation is not mapped: data minimisation


def test_flat_csv_columns_with_dotted_names_map_like_nested_json() -> None:
    mapping = load_mapping("hris_worker", "v1")
    flat = {"employee_id": "E2", "source_system": "acquired_hris", "name.given": "Bo", "name.family": "Ng",
            "emails.work": "BO@X.EXAMPLE", "employment.status": "On_Leave", "employment.type": "contractor",
            "updated_at": "2024-05-01T10:00:00+02:00"}
    row = mapping.apply(flat)
    assert row["employment_status"] == "leave"
    assert row["work_email"] == "bo@x.example"
    assert row["source_updated_at"] == datetime(2024, 5, 1, 8, tzinfo=UTC)


def test_missing_required_field_names_file_row_field_and_record() -> None:
    mapping = load_mapping("hris_worker", "v1")
    record = worker()
    record["name"]["family"] = "  "
    with pytest.raises(MappingError) as err:
        mapping.apply(record, record_number=12, record_key="E0001")
    assert (err.value.file, err.value.row, err.value.field) == ("hris_worker_v1.csv", 5, "family_name")
    assert err.value.record == 12
    assert "hris_worker_v1.csv, row 5, field 'family_name', record 12 (E0001)" in str(err.value)


def test_unmapped_enum_value_is_rejected_not_passed_through() -> None:
    with pytest.raises(MappingError, match="'retired' is not one of the mapped values") as err:
        load_mapping("hris_worker", "v1").apply(worker(status="retired"))
    assert err.value.field == "employment_status"


def test_bad_date_is_a_type_error_naming_the_field() -> None:
    with pytest.raises(MappingError, match="not an ISO 8601") as err:
        load_mapping("hris_worker", "v1").apply(worker(hire_date="03/02/2020"))
    assert err.value.field == "hire_date"


def test_unknown_transform_fails_at_load_naming_row(tmp_path: Path) -> None:
    write_mapping(tmp_path, "s,a,a,string,trim,true,,1:1,", "s,b,b,string,trim;shout,false,,1:1,")
    with pytest.raises(MappingError, match="unknown transform 'shout'") as err:
        load_mapping("thing", "v1", tmp_path)
    assert (err.value.file, err.value.row, err.value.field) == ("thing_v1.csv", 3, "b")


def test_header_must_match_the_documented_columns(tmp_path: Path) -> None:
    (tmp_path / "thing_v2.csv").write_text("source_field,target_field\na,a\n", encoding="utf-8")
    with pytest.raises(MappingError, match="header must be exactly"):
        load_mapping("thing", "v2", tmp_path)


def test_typed_columns_and_score_normalisation(tmp_path: Path) -> None:
    write_mapping(
        tmp_path,
        "lrs,result.score,score,number,normalize_score_0_100,false,,1:1,",
        "lrs,attempts,attempts,integer,,true,,1:1,",
        "lrs,ok,passed,boolean,,false,,1:1,",
        name="score_v1",
    )
    mapping = load_mapping("score", "v1", tmp_path)
    row = mapping.apply({"result": {"score": {"scaled": 0.85}}, "attempts": "2", "ok": "yes"})
    assert row == {"score": 85.0, "attempts": 2, "passed": True}
    assert mapping.apply({"result": {"score": {"raw": 45, "min": 0, "max": 50}}, "attempts": 1})["score"] == 90.0
    with pytest.raises(MappingError, match="not a whole number") as err:
        mapping.apply({"attempts": "2.5"}, record_number=3)
    assert err.value.row == 3 and err.value.field == "attempts"
    with pytest.raises(MappingError, match=r"outside 0\.\.100"):
        mapping.apply({"result": {"score": 140}, "attempts": 1})


def test_naive_timestamp_is_rejected(tmp_path: Path) -> None:
    write_mapping(tmp_path, "s,at,at,timestamp,parse_iso8601,true,,1:1,", name="ts_v1")
    with pytest.raises(MappingError, match="no time zone"):
        load_mapping("ts", "v1", tmp_path).apply({"at": "2024-01-01T10:00:00"})
