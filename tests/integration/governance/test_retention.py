"""Retention (issue #19): a run on a synthetic history with a fixed clock purges exactly the expired rows,
leaves the audit chain verifiable, and a rerun does nothing.

The history is seeded straight into a fresh warehouse (batches of known ages, workers terminated on
known days, audit events about them on the real chain); the run goes through the retention DAG's
task body (``run_retention``, as ``apply_retention_policies`` calls it) with the shipped mappings and
the real erasure path for the worker, on real Postgres. Rows are counted per table before and after.
"""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from psycopg.types.json import Jsonb

from credsync.audit import append_event, verify_chain
from credsync.governance.retention import SOURCES, apply_retention
from credsync.governance.retention_policy import load_policies
from credsync.governance.retention_tasks import check_retention_policies, run_retention
from credsync.mapping.engine import MappingError
from credsync.objects import as_store_path
from credsync.warehouse import connect

AS_OF = datetime(2026, 6, 1, 2, 30, tzinfo=UTC)  # the run's logical date: the fixed clock
# Cut-offs the shipped policies give at AS_OF: termination + 7 years -> 2019-06-01,
# staging batch + 90 days -> 2026-03-03 02:30, audit batch + 1 year -> 2025-06-01 02:30.
TABLES = ["staging.hris_workers", "staging.completions", "audit.quarantine", "core.workers", "core.completions",
          "audit.events", "audit.batches"]


def _worker(conn, tenant: str, employee_id: str, *, status: str = "active", terminated: date | None = None,
            rehired: date | None = None, batch: str) -> None:
    conn.execute(
        "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name, work_email,"
        " email_normalized, employment_status, employment_type, hire_date, termination_date, rehire_date,"
        " source_updated_at, mapping_version, last_batch_id)"
        " VALUES (%s, %s, 'hris_main', %s, %s, %s, %s, %s, 'employee', '2010-01-04', %s, %s, %s, 'v1', %s)",
        (tenant, employee_id, f"Given{employee_id}", f"Family{employee_id}", f"{employee_id.lower()}@acme.example",
         f"{employee_id.lower()}@acme.example", status, terminated, rehired, AS_OF, batch))


def _batch(conn, tenant: str, source: str, created: datetime) -> str:
    batch = str(uuid.uuid4())
    conn.execute("INSERT INTO audit.batches (batch_id, tenant_id, source, stream, status, created_at)"
                 " VALUES (%s, %s, %s, %s, 'merged', %s)",
                 (batch, tenant, source, "workers" if source == "hris" else "completions", created))
    return batch


def _staged_worker(conn, batch: str, tenant: str, row: int, employee_id: str) -> None:
    conn.execute("INSERT INTO staging.hris_workers (batch_id, tenant_id, row_number, employee_id, given_name,"
                 " mapping_version) VALUES (%s, %s, %s, %s, %s, 'v1')",
                 (batch, tenant, row, employee_id, f"Given{employee_id}"))


def _staged_completion(conn, batch: str, tenant: str, row: int, source: str, employee_id: str) -> None:
    conn.execute("INSERT INTO staging.completions (batch_id, tenant_id, row_number, source, source_id, employee_id,"
                 " raw, mapping_version) VALUES (%s, %s, %s, %s, %s, %s, %s, 'v1')",
                 (batch, tenant, row, source, f"{source}-{row}", employee_id, Jsonb({"actor": employee_id})))


def _quarantined(conn, batch: str, tenant: str, key: str) -> None:
    conn.execute("INSERT INTO audit.quarantine (batch_id, tenant_id, record_key, rule, reason, record, created_at)"
                 " VALUES (%s, %s, %s, 'email', 'not an email', %s, now())",
                 (batch, tenant, key, Jsonb({"employee_id": key, "email": "not-an-email"})))


def _completion(conn, tenant: str, source_id: str, employee_id: str, batch: str) -> None:
    conn.execute("INSERT INTO core.completions (tenant_id, source, source_id, employee_id, course_code, verb,"
                 " success, completed_at, batch_id, mapping_version)"
                 " VALUES (%s, 'lms_rest', %s, %s, 'SAFE-101', 'completed', true, '2017-03-01', %s, 'v1')",
                 (tenant, source_id, employee_id, batch))


@pytest.fixture
def history(fresh_warehouse_url, monkeypatch):
    """acme and globex with old and recent batches, and workers terminated long ago, recently, or rehired."""
    monkeypatch.setenv("AIRFLOW_CONN_CREDSYNC_PSEUDONYM_KEY",
                       json.dumps({"conn_type": "generic", "password": secrets.token_urlsafe(48)}))
    with connect(fresh_warehouse_url) as conn:
        ids = {}
        for tenant in ("acme", "globex"):
            old_hris = _batch(conn, tenant, "hris", datetime(2025, 1, 10, tzinfo=UTC))     # past staging and audit
            mid_hris = _batch(conn, tenant, "hris", datetime(2026, 3, 1, tzinfo=UTC))      # past staging only
            new_hris = _batch(conn, tenant, "hris", datetime(2026, 3, 4, tzinfo=UTC))      # kept
            old_lms = _batch(conn, tenant, "lms", datetime(2025, 5, 1, tzinfo=UTC))        # past staging and audit
            new_lms = _batch(conn, tenant, "lms", datetime(2026, 5, 30, tzinfo=UTC))       # kept
            ids[tenant] = {"old_hris": old_hris, "mid_hris": mid_hris, "new_hris": new_hris, "old_lms": old_lms,
                           "new_lms": new_lms}
            for n, batch in enumerate((old_hris, old_hris, mid_hris, new_hris, new_hris)):
                _staged_worker(conn, batch, tenant, n, f"S{n}")
            for n, (batch, source) in enumerate(((old_lms, "lms_rest"), (old_lms, "xapi"), (new_lms, "xapi"))):
                _staged_completion(conn, batch, tenant, n, source, "S1")
            for batch in (old_hris, mid_hris, old_lms, new_lms):
                _quarantined(conn, batch, tenant, "Q1")
            _worker(conn, tenant, "E100", status="terminated", terminated=date(2018, 1, 15), batch=old_hris)
            _worker(conn, tenant, "E200", status="terminated", terminated=date(2019, 6, 1), batch=old_hris)
            _worker(conn, tenant, "E300", status="active", terminated=date(2015, 1, 2), rehired=date(2017, 1, 2),
                    batch=old_hris)
            _worker(conn, tenant, "E400", batch=new_hris)
            _completion(conn, tenant, "C-1", "E100", old_lms)
            _completion(conn, tenant, "C-2", "E400", old_lms)
            append_event(conn, tenant_id=tenant, event_type="worker.terminated", entity_type="worker",
                         entity_key="E100", detail={"termination_date": "2018-01-15"})
            append_event(conn, tenant_id=tenant, event_type="credential.issued", entity_type="credential",
                         entity_key="K-1", detail={"employee_id": "E100", "email": "e100@acme.example"})
            append_event(conn, tenant_id=tenant, event_type="worker.updated", entity_type="worker",
                         entity_key="E200", detail={"job_title": "Nurse"})
        conn.commit()
    return fresh_warehouse_url, ids


def _counts(url: str, tenant: str = "acme") -> dict[str, int]:
    with connect(url) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t} WHERE tenant_id = %s", (tenant,)).fetchone()[0]
                for t in TABLES}


def _rows(url: str, sql: str, tenant: str = "acme") -> list[tuple]:
    with connect(url) as conn:
        return [tuple(r) for r in conn.execute(sql, (tenant,))]


def test_a_run_purges_exactly_the_expired_rows_keeps_the_chain_verifiable_and_a_rerun_does_nothing(
        history, tmp_path: Path):
    url, ids = history
    before, globex_before = _counts(url), _counts(url, "globex")
    store = as_store_path((tmp_path / "objects" / "retention").as_uri())

    report = run_retention("acme", warehouse_url=url, as_of=AS_OF, run_id="scheduled__2026-06-01", store=store)

    after = _counts(url)
    # Staging: the two batches older than 90 days lose their rows (3 HRIS, 2 LMS/xAPI); the others stay.
    assert before["staging.hris_workers"] - after["staging.hris_workers"] == 3
    assert before["staging.completions"] - after["staging.completions"] == 2
    assert _rows(url, "SELECT batch_id::text FROM staging.hris_workers WHERE tenant_id = %s") == [
        (ids["acme"]["new_hris"],)] * 2
    assert _rows(url, "SELECT batch_id::text, source FROM staging.completions WHERE tenant_id = %s") == [
        (ids["acme"]["new_lms"], "xapi")]
    # Audit quarantine: rows stay (counts reconcile), the copies of batches older than a year are cleared.
    assert after["audit.quarantine"] == before["audit.quarantine"]
    cleared = _rows(url, "SELECT batch_id::text FROM audit.quarantine WHERE tenant_id = %s AND record IS NULL"
                         " ORDER BY batch_id")
    assert sorted(cleared) == sorted([(ids["acme"]["old_hris"],), (ids["acme"]["old_lms"],)])
    # Core: only E100 (terminated 2018, more than 7 years before the run) is pseudonymised; E200 (terminated
    # exactly 7 years before), E300 (rehired) and E400 (active) are untouched; no worker row is deleted.
    assert after["core.workers"] == before["core.workers"] and after["core.completions"] == before["core.completions"]
    keys = [r[0] for r in _rows(url, "SELECT employee_id FROM core.workers WHERE tenant_id = %s ORDER BY 1")]
    assert keys[:3] == ["E200", "E300", "E400"] and keys[3].startswith("psn_") and len(keys) == 4
    assert _rows(url, "SELECT employee_id FROM core.completions WHERE tenant_id = %s AND source_id = 'C-2'") == [
        ("E400",)]
    with connect(url) as conn:
        text = " ".join(str(r) for r in conn.execute(
            "SELECT detail, entity_key FROM audit.events WHERE tenant_id = 'acme'"))
        left = " ".join(str(r) for t in ("core.workers", "core.completions", "staging.hris_workers")
                        for r in conn.execute(f"SELECT t.* FROM {t} t WHERE tenant_id = 'acme'"))
    assert "E100" not in text and "e100@acme.example" not in text and "GivenE100" not in left
    assert "E200" in text, "an unexpired worker's audit events keep their payload"
    # Audit chain: verifiable with the project's verifier, E100's payloads tombstoned (not deleted).
    with connect(url) as conn:
        chain = verify_chain(conn, "acme")
    assert chain.ok, chain.breaks
    assert chain.tombstoned == 2
    assert after["audit.events"] > before["audit.events"], "the chain grew (redaction, erasure, retention events)"
    # The report: counts per table and action, in the object store and the run's row.
    assert report["total"] > 0 and report["workers"] == 1
    assert report["counts"]["staging.hris_workers"] == {"purge": 3}
    assert report["counts"]["staging.completions"] == {"purge": 2}
    assert report["counts"]["audit.quarantine"] == {"purge": 2}
    assert report["counts"]["audit.events"] == {"tombstone": 2}
    assert report["counts"]["core.workers"]["pseudonymise"] == 1
    assert report["counts"]["core.completions"] == {"pseudonymise": 1}, "E100's completion, not E400's"
    stored = json.loads((tmp_path / "objects" / "retention" / "acme" / "scheduled__2026-06-01.json").read_text())
    assert stored["counts"] == report["counts"]
    run_row = _rows(url, "SELECT counts, total, report_url FROM audit.retention_runs WHERE tenant_id = %s")
    assert run_row == [(report["counts"], report["total"], report["report_url"])]
    # Another tenant is not touched by acme's run.
    assert _counts(url, "globex") == globex_before

    # A rerun (a cleared task: same run id) and the next day's run change nothing and report zero.
    for run_id in ("scheduled__2026-06-01", "scheduled__2026-06-02"):
        again = run_retention("acme", warehouse_url=url, as_of=AS_OF, run_id=run_id, store=store)
        assert (again["total"], again["counts"], again["workers"]) == (0, {}, 0)
        assert _counts(url) == after
    assert _rows(url, "SELECT run_id, total FROM audit.retention_runs WHERE tenant_id = %s ORDER BY run_id") == [
        ("scheduled__2026-06-01", report["total"]), ("scheduled__2026-06-02", 0)]
    with connect(url) as conn:
        assert verify_chain(conn).ok

    # The day after, E200's seven years (terminated 2019-06-01) are over too: only E200 goes.
    next_day = run_retention("acme", warehouse_url=url, as_of=AS_OF + timedelta(days=1),
                             run_id="scheduled__2026-06-02b", store=store)
    assert next_day["workers"] == 1
    keys = [r[0] for r in _rows(url, "SELECT employee_id FROM core.workers WHERE tenant_id = %s ORDER BY 1")]
    assert keys[:2] == ["E300", "E400"] and all(k.startswith("psn_") for k in keys[2:])
    with connect(url) as conn:
        assert verify_chain(conn).ok


@pytest.mark.parametrize("action", ["purge", "pseudonymise"])
def test_the_completion_anchor_expires_old_completions_and_tombstones_their_audit_payloads(history, tmp_path,
                                                                                          action):
    url, _ = history
    header = "source_system,source_field,target_field,data_type,transform,required,notes,cardinality,retention_policy\n"
    for source in SOURCES:
        policy = (f"completion + 5 years then {action} (basis: training evidence)" if source.completions_source
                  else "termination + 30 years then purge (basis: HR)")
        (tmp_path / source.mapping).write_text(header + f"x,a,a,string,,true,,1:1,{policy}\n")
    with connect(url) as conn:
        append_event(conn, tenant_id="acme", event_type="completion.loaded", entity_type="completion",
                     entity_key="C-1", detail={"course_code": "SAFE-101"})
        conn.commit()
        done = apply_retention(conn, "acme", as_of=AS_OF, run_id="manual__1", mappings_dir=tmp_path)
        conn.commit()
        assert done.counts == {"core.completions": {action: 2}, "audit.events": {"tombstone": 1}}
        left = [r[0] for r in conn.execute("SELECT employee_id FROM core.completions WHERE tenant_id = 'acme'")]
        if action == "purge":
            assert left == []
        else:
            assert len(left) == 2 and all(e.startswith("psn_") for e in left) and len(set(left)) == 2
        assert conn.execute("SELECT count(*) FROM core.completions WHERE tenant_id = 'globex'").fetchone()[0] == 2
        assert verify_chain(conn, "acme").ok
        again = apply_retention(conn, "acme", as_of=AS_OF, run_id="manual__2", mappings_dir=tmp_path)
        assert again.total == 0


def test_an_unparseable_policy_stops_the_run_before_anything_changes(history, tmp_path):
    url, _ = history
    for source in SOURCES:
        (tmp_path / source.mapping).write_text(
            "source_system,source_field,target_field,data_type,transform,required,notes,cardinality,retention_policy\n"
            "x,a,a,string,,true,,1:1,employment + 7 years\n")
    before = _counts(url)
    with connect(url) as conn, pytest.raises(MappingError, match=r"hris_worker_v1.csv, row 2, field 'a'"):
        apply_retention(conn, "acme", as_of=AS_OF, run_id="manual__bad", mappings_dir=tmp_path)
    assert _counts(url) == before


def test_the_policy_check_task_reads_the_shipped_mappings():
    checked = check_retention_policies.function()
    assert set(checked) == {s.mapping for s in SOURCES}
    assert load_policies([s.mapping for s in SOURCES])["hris_worker_v1.csv"].layers["core"].anchor == "termination"
