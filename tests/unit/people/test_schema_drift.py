"""The schema-drift rule of HRIS extracts (credsync.people.drift), on the real hris_worker_v1 mapping."""

from __future__ import annotations

import copy

from credsync.mapping import load_mapping
from credsync.people.drift import DriftCheck

IGNORED = frozenset({"emails.personal", "compensation.salary_band"})
WORKER = {
    "employee_id": "E000001", "source_system": "hris_main",
    "name": {"given": "Ann", "family": "Lee", "preferred": None},
    "emails": {"work": "ann@acme.example", "personal": None},
    "employment": {"status": "active", "type": "employee", "hire_date": "2020-01-01", "termination_date": None,
                   "rehire_date": None, "department": "Ops", "job_title": None, "manager_id": None,
                   "location": None, "status_effective_date": None, "job_effective_date": None},
    "compensation": {"salary_band": "B2"},
    "updated_at": "2025-01-01T00:00:00Z",
}  # fmt: skip
HEADER = ["employee_id", "source_system", "name.given", "name.family", "name.preferred", "emails.work",
          "emails.personal", "employment.status", "employment.type", "employment.hire_date",
          "employment.termination_date", "employment.rehire_date", "employment.department",
          "employment.job_title", "employment.manager_id", "employment.location", "employment.status_effective_date",
          "employment.job_effective_date", "compensation.salary_band",
          "updated_at"]  # fmt: skip


def check(records, columns=None):
    drift = DriftCheck(load_mapping("hris_worker", "v1"), ignored=IGNORED, columns=columns)
    for record in records:
        drift.observe(record, record.get("employee_id"))
    return drift.result()


def test_the_contract_shape_has_no_drift() -> None:
    assert check([WORKER, WORKER]) is None
    assert check([dict.fromkeys(HEADER)], columns=HEADER) is None


def test_json_missing_required_field_blocks_and_names_records() -> None:
    record = copy.deepcopy(WORKER)
    del record["employment"]["status"]
    found = check([WORKER, record])
    assert found.blocking and found.missing_required == {"employment.status": 1}
    assert "missing required fields employment.status (1 of 2 records, e.g. E000001)" in found.reason()


def test_json_null_required_value_is_not_drift() -> None:
    record = copy.deepcopy(WORKER)
    record["employment"]["status"] = None  # present but empty: the mapping quarantines the record
    assert check([record]) is None


def test_json_unknown_field_alone_is_tolerated_but_a_rename_blocks() -> None:
    added = copy.deepcopy(WORKER)
    added["employment"]["badge"] = "x"
    found = check([added])
    assert not found.blocking and found.unknown == {"employment.badge": 1}
    assert found.reason().startswith("schema_drift (json, 1 records) (tolerated): unknown fields employment.badge")
    renamed = copy.deepcopy(WORKER)
    renamed["employment"]["dept"] = renamed["employment"].pop("department")
    found = check([renamed])
    assert found.blocking and found.missing_optional == {"employment.department": 1}
    assert found.unknown == {"employment.dept": 1}


def test_csv_header_must_match_exactly() -> None:
    renamed = ["employment.state" if c == "employment.status" else c for c in HEADER if c != "employment.location"]
    found = check([{}], columns=renamed)
    assert found.blocking
    assert found.reason() == ("schema_drift (csv header): missing required columns employment.status; "
                              "missing columns employment.location; unknown columns employment.state")
    found = check([{}], columns=["\ufeffemployee_id", *HEADER[1:]])
    assert "unknown columns '\\ufeffemployee_id'" in found.reason()
