"""Files a DAG needs go through ObjectStoragePath under the configured base, never a worker's disk."""

from __future__ import annotations

from datetime import date

import pytest
from airflow.sdk import ObjectStoragePath

from credsync.delivery.writeback import Writeback, payroll_csv_path, write_payroll_csv
from credsync.objects import ObjectStoreNotConfigured, as_store_path, store_path, write_atomically
from credsync.people import flow
from credsync.people.filedrop import latest_drop
from credsync.recon.report import report_store

BASE = "memory://credsync-objects-test/base"


def flag(employee_id: str) -> Writeback:
    return Writeback(employee_id, "payroll_flag", "forklift", "urn:uuid:c1", "active", None,
                     date(2025, 1, 2), date(2027, 1, 2),
                     {"active": True, "effective_from": "2025-01-02", "effective_to": "2027-01-02",
                      "credential_id": "urn:uuid:c1"})


@pytest.fixture
def memory_store(monkeypatch, tmp_path):
    """A non-file base (fsspec's in-memory file system); the working directory is watched for strays."""
    for name in ("CREDSYNC_PAYROLL_STORE", "CREDSYNC_REPORT_STORE", "CREDSYNC_HRIS_DROP"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CREDSYNC_OBJECT_STORE", BASE)
    monkeypatch.chdir(tmp_path)
    # Airflow opens files through the file systems it has attached (s3, gcs, file... from providers);
    # attaching fsspec's in-memory one is how a deployment would add any other protocol.
    import fsspec
    from airflow.sdk.io import attach

    attach("memory", fs=fsspec.filesystem("memory"))
    root = ObjectStoragePath(BASE)
    if root.exists():
        root.rmdir(recursive=True)
    yield root
    assert list(tmp_path.iterdir()) == [], "something was written to the working directory"


def test_the_payroll_csv_lands_under_the_configured_non_file_base(memory_store) -> None:
    path = write_payroll_csv(None, "acme", date(2026, 3, 2), [flag("E1")])

    assert str(path) == f"{BASE}/payroll/acme/payroll_flags_2026-03-02.csv"
    assert path.read_text().splitlines()[1] == "acme,E1,forklift,true,2025-01-02,2027-01-02,urn:uuid:c1"
    assert [p.name for p in (memory_store / "payroll" / "acme").iterdir()] == ["payroll_flags_2026-03-02.csv"]


def test_a_rerun_rewrites_the_same_bytes_and_leaves_no_temporary_file(memory_store) -> None:
    first = write_payroll_csv(None, "acme", date(2026, 3, 2), [flag("E2"), flag("E1")]).read_bytes()
    again = write_payroll_csv(None, "acme", date(2026, 3, 2), [flag("E1"), flag("E2")]).read_bytes()

    assert first == again
    assert [p.name for p in (memory_store / "payroll" / "acme").iterdir()] == ["payroll_flags_2026-03-02.csv"]


def test_each_kind_of_file_has_its_folder_and_its_override(memory_store, monkeypatch) -> None:
    assert str(report_store()) == f"{BASE}/reports"
    monkeypatch.setenv("CREDSYNC_REPORT_STORE", "memory://elsewhere/reports")
    assert str(report_store()) == "memory://elsewhere/reports"
    assert str(report_store("memory://asked/for")) == "memory://asked/for"  # a run's param wins
    assert str(payroll_csv_path("s3://aws_default@bucket/pay", "acme", date(2026, 3, 2))) == (
        "s3://aws_default@bucket/pay/acme/payroll_flags_2026-03-02.csv")


def test_the_hris_file_drop_is_read_from_the_store(memory_store) -> None:
    folder = memory_store / "hris_drop" / "acme"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "workers_20260101T000000Z.csv").write_text("employee_id,name.given\r\nE0,Old\r\n")
    (folder / "workers_20260102T000000Z.csv").write_text("employee_id,name.given\r\nE1,Ann\r\nE2,\r\n")
    (folder / "notes.txt").write_text("not a drop")

    newest = latest_drop(None, "acme")
    export = flow.csv_export(newest)(None)

    assert newest.name == "workers_20260102T000000Z.csv"
    assert export.window_key == "file=workers_20260102T000000Z.csv"
    assert export.columns == ["employee_id", "name.given"]
    assert list(export) == [{"employee_id": "E1", "name.given": "Ann"}, {"employee_id": "E2", "name.given": None}]
    assert latest_drop(None, "globex") is None
    assert latest_drop(None, "acme", after="workers_20260102T000000Z.csv") is None


def test_no_configured_store_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.delenv("CREDSYNC_OBJECT_STORE", raising=False)
    monkeypatch.delenv("CREDSYNC_PAYROLL_STORE", raising=False)
    with pytest.raises(ObjectStoreNotConfigured, match="set CREDSYNC_OBJECT_STORE or CREDSYNC_PAYROLL_STORE"):
        write_payroll_csv(None, "acme", date(2026, 3, 2), [])


def test_a_relative_path_is_refused_an_absolute_one_is_a_file_url(tmp_path) -> None:
    with pytest.raises(ValueError, match="'build/payroll' is a relative path"):
        as_store_path("build/payroll")
    assert str(as_store_path(tmp_path)) == f"file://{tmp_path}"
    assert str(store_path("payroll", explicit=str(tmp_path))) == f"file://{tmp_path}"


def test_an_interrupted_write_leaves_the_old_file(tmp_path, monkeypatch) -> None:
    target = as_store_path(tmp_path) / "acme" / "payroll_flags_2026-03-02.csv"
    write_atomically(target, b"old")

    def broken_rename(self, *args, **kwargs):
        raise OSError("the worker died mid-write")

    monkeypatch.setattr(type(target), "rename", broken_rename)
    with pytest.raises(OSError, match="mid-write"):
        write_atomically(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in target.parent.iterdir()] == ["payroll_flags_2026-03-02.csv"]
