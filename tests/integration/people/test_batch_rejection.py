"""Rejected HRIS batches: schema drift, quarantine share, retries, messages, park-and-continue.

Real HRIS sandbox data through the real flow functions (the DAG's tasks call exactly these)
and a real Postgres; where a test needs the HRIS to send something its contract forbids (an
unknown status, a missing field, a NUL) it rewrites the real export on its way in.
"""

from __future__ import annotations

import copy
import csv
import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from credsync.hooks.hris import HrisHook
from credsync.ingest.gate import BatchRejected
from credsync.people import flow
from credsync.warehouse import connect

pytestmark = pytest.mark.slow

Edit = Callable[[dict[str, Any]], None]


def run(env, open_export=None, *, full: bool = False, park=None) -> dict:
    """extract_and_stage → gate → merge, as the DAG chains them for one tenant."""
    open_export = open_export or HrisHook(f"hris_{env.tenant}", env.tenant).export
    extra = {"park": park} if park is not None else {}
    staged = flow.extract_and_stage(env.warehouse_url, tenant_id=env.tenant, open_export=open_export,
                                    full=full, **extra)
    return flow.merge(env.warehouse_url, flow.gate(env.warehouse_url, staged))


def rewritten(env, edits: dict[str, Edit], extra: Edit | None = None) -> Callable[[str | None], Any]:
    """The real HRIS export with ``edits`` applied to the named workers (``extra`` to every worker)."""
    hook = HrisHook(f"hris_{env.tenant}", env.tenant)

    def open_export(since: str | None) -> Any:
        export = hook.export(since)

        class Rewritten:
            @property
            def as_of(self) -> str | None:
                return export.as_of

            def __iter__(self) -> Iterator[dict[str, Any]]:
                for record in export:
                    record = copy.deepcopy(record)
                    if record["employee_id"] in edits:
                        edits[record["employee_id"]](record)
                    if extra:
                        extra(record)
                    yield record

        return Rewritten()

    return open_export


def query(env, sql: str, *params: object) -> list[tuple]:
    with connect(env.warehouse_url) as conn:
        return conn.execute(sql, params).fetchall()


def watermark(env) -> str | None:
    rows = query(env, "SELECT watermark FROM audit.sync_state WHERE tenant_id = %s AND source = 'hris'", env.tenant)
    return rows[0][0] if rows else None


def employee_ids(env) -> list[str]:
    return sorted(w["employee_id"] for w in HrisHook(f"hris_{env.tenant}", env.tenant).export(None))


def status(value: str) -> Edit:
    return lambda record: record["employment"].update(status=value)


def test_batch_whose_every_record_fails_mapping_is_rejected_and_the_watermark_stays(people_env) -> None:
    env = people_env
    run(env)
    before = watermark(env)
    ids = employee_ids(env)[:3]
    for employee_id in ids:
        env.hris_admin("POST", f"workers/{employee_id}/terminate", json={"webhook": False})
    # The three terminations arrive with a status the mapping does not know: all three fail.
    with pytest.raises(BatchRejected) as err:
        run(env, rewritten(env, {i: status("retired") for i in ids}))

    message = str(err.value)
    assert "quarantine_share: 3 of 3 records quarantined" in message
    assert all(i in message for i in ids), message
    assert watermark(env) == before, "the terminations were skipped for good"
    assert query(env, "SELECT status FROM audit.batches ORDER BY created_at DESC LIMIT 1") == [("rejected",)]
    # Fixed at the source, the next run delivers the terminations from the same window.
    merged = run(env)
    assert merged["updated"] == 3
    assert query(env, "SELECT count(*) FROM core.workers WHERE employment_status = 'terminated'"
                      " AND employee_id = ANY(%s)", ids) == [(3,)]
    assert watermark(env) != before


def test_csv_file_with_wrong_headers_is_rejected_naming_the_columns(people_env, tmp_path: Path) -> None:
    env = people_env
    response = requests.get(f"{env.hris_url}/api/v1/tenants/{env.tenant}/workers.csv", timeout=30,
                            headers={"Authorization": f"Bearer {env.hris_token}"})
    response.raise_for_status()
    good = tmp_path / "workers_20250101T000000Z.csv"
    good.write_text(response.text, encoding="utf-8")
    # The same file with a renamed column (status → state) and a dropped one (location).
    rows = list(csv.DictReader(io.StringIO(response.text)))
    bad = tmp_path / "workers_20250102T000000Z.csv"
    with bad.open("w", newline="", encoding="utf-8") as handle:
        columns = [c for c in rows[0] if c != "employment.location"]
        writer = csv.writer(handle)
        writer.writerow(["employment.state" if c == "employment.status" else c for c in columns])
        writer.writerows([row[c] for c in columns] for row in rows)

    with pytest.raises(BatchRejected) as err:
        run(env, flow.csv_export(bad))
    message = str(err.value)
    assert "schema_drift (csv header)" in message
    assert "missing required columns employment.status" in message
    assert "employment.location" in message and "unknown columns employment.state" in message
    assert query(env, "SELECT count(*) FROM core.workers") == [(0,)]
    drift = query(env, "SELECT schema_drift FROM audit.batches WHERE status = 'rejected'")[0][0]
    assert drift["missing_required"] == {"employment.status": 60} and drift["blocking"] is True

    loaded = run(env, flow.csv_export(good))  # the same HRIS data with the contract's header loads
    assert loaded["inserted"] == 60 and loaded["quarantined"] == 0


def test_json_missing_required_field_rejects_and_unknown_field_alone_is_tolerated(people_env) -> None:
    env = people_env
    ids = employee_ids(env)

    def drop_status(record: dict) -> None:
        del record["employment"]["status"]

    with pytest.raises(BatchRejected) as err:
        run(env, rewritten(env, {ids[4]: drop_status}))
    assert f"missing required fields employment.status (1 of 60 records, e.g. {ids[4]})" in str(err.value)

    def renamed(record: dict) -> None:  # an optional field renamed: gone under its name, new under another
        record["employment"]["dept"] = record["employment"].pop("department")

    with pytest.raises(BatchRejected, match=r"missing fields employment.department .*unknown fields employment.dept"):
        run(env, rewritten(env, {}, extra=renamed))
    assert query(env, "SELECT count(*) FROM core.workers") == [(0,)]

    def added(record: dict) -> None:  # additive API change: a new field beside everything mapped
        record["employment"]["badge_color"] = "blue"

    merged = run(env, rewritten(env, {}, extra=added))
    assert merged["inserted"] == 60
    drift = query(env, "SELECT schema_drift FROM audit.batches WHERE status = 'merged'")[0][0]
    assert drift["unknown"] == {"employment.badge_color": 60} and drift["blocking"] is False


def test_quarantine_share_over_the_limit_rejects_and_within_it_parks_by_policy(people_env) -> None:
    env = people_env
    ids = employee_ids(env)
    with pytest.raises(BatchRejected) as err:
        run(env, rewritten(env, {i: status("retired") for i in ids[:6]}))
    message = str(err.value)
    assert "quarantine_share: 6 of 60 records quarantined and not parked (share 0.10 > 0.05)" in message
    assert ids[0] in message and "employment_status" in message
    assert watermark(env) is None and query(env, "SELECT count(*) FROM core.workers") == [(0,)]

    merged = run(env, rewritten(env, {i: status("retired") for i in ids[:2]}))  # 2 of 60 is within 5%
    assert merged["inserted"] == 58 and merged["quarantined"] == 2
    assert watermark(env) is not None
    parked = query(env, "SELECT record_key, parked_by FROM audit.quarantine q JOIN audit.batches b USING (batch_id)"
                        " WHERE b.status = 'merged' ORDER BY 1")
    assert parked == [(ids[0], "policy:max_quarantine_share"), (ids[1], "policy:max_quarantine_share")]


def test_retried_rejected_batch_is_the_same_batch_and_adds_no_quarantine_rows(people_env) -> None:
    env = people_env
    ids = employee_ids(env)
    edits: dict[str, Edit] = {i: status("retired") for i in ids[:2]}  # quarantined, within the share
    edits[ids[2]] = lambda r: r["employment"].update(hire_date="2024-05-01", termination_date="2024-01-31")
    bad = rewritten(env, edits)
    for _ in range(3):
        with pytest.raises(BatchRejected, match="dates_sane"):
            run(env, bad)
    assert query(env, "SELECT count(*), count(DISTINCT (record_key, rule)) FROM audit.quarantine") == [(2, 2)]
    assert query(env, "SELECT count(*), max(attempts), max(status) FROM audit.batches") == [(1, 3, "rejected")]
    # Running staging's quarantine insert again for the same rows adds nothing either.
    with connect(env.warehouse_url) as conn:
        row = conn.execute("SELECT batch_id, tenant_id, record_key, rule, reason, record::text"
                           " FROM audit.quarantine LIMIT 1").fetchone()
        from credsync.paths import sql_text

        conn.execute(sql_text("people/quarantine_rows.sql"), row)
        conn.commit()
    assert query(env, "SELECT count(*) FROM audit.quarantine") == [(2,)]


def test_failed_expectations_name_the_offending_employees(people_env) -> None:
    env = people_env
    ids = employee_ids(env)

    def hired_after_termination(record: dict) -> None:
        record["employment"].update(status="terminated", hire_date="2024-05-01", termination_date="2024-01-31",
                                    rehire_date=None)

    def duplicate(record: dict) -> None:
        record["employee_id"] = ids[1]

    with pytest.raises(BatchRejected) as err:
        run(env, rewritten(env, {ids[0]: hired_after_termination, ids[2]: duplicate}))
    message = str(err.value)
    assert (f"dates_sane [employment dates are plausible and consistent]: 1 offending record, e.g. {ids[0]} "
            "(termination_date 2024-01-31 before hire_date 2024-05-01)") in message, message
    assert f"unique_employee_id(employee_id): 2 offending records, e.g. {ids[1]} (2 rows)" in message, message


def test_park_named_records_then_the_batch_merges_and_the_watermark_moves(people_env) -> None:
    env = people_env
    run(env)
    before = watermark(env)
    ids = employee_ids(env)
    for day in range(1, 8):
        env.hris_admin("POST", f"changes/{day}")
    delta = [w["employee_id"] for w in HrisHook(f"hris_{env.tenant}", env.tenant).export(before)]
    assert len(delta) >= 20, "the HRIS changes give a delta the share rule judges"
    broken, dated = delta[:5], delta[5]

    def hired_after_termination(record: dict) -> None:
        record["employment"].update(hire_date="2024-05-01", termination_date="2024-01-31")

    edits: dict[str, Edit] = {i: status("retired") for i in broken}
    edits[dated] = hired_after_termination
    hris_not_fixed = rewritten(env, edits)
    with pytest.raises(BatchRejected) as err:
        run(env, hris_not_fixed)
    assert "quarantine_share" in str(err.value) and dated in str(err.value)
    batch_id = query(env, "SELECT batch_id::text FROM audit.batches WHERE status = 'rejected'")[0][0]

    # On-call: park the five quarantined records (CLI) and the one the dates rule named (DAG params).
    from credsync.people.park import main as park_main

    assert park_main(["--url", env.warehouse_url, "--tenant", env.tenant, "--batch", batch_id,
                      "--all-quarantined", "--by", "alice", "--note", "INC-42"]) == 0
    assert park_main(["--url", env.warehouse_url, "--tenant", env.tenant, "--batch", batch_id,
                      "--record", "E-NOPE", "--by", "alice"]) == 1, "an unknown key parks nothing"
    park = flow.park_request({"park_tenant": env.tenant, "park_batch_id": batch_id, "park_records": [dated],
                              "park_note": "INC-42 dates"}, "manual__2025-01-01")
    merged = run(env, hris_not_fixed, park=park)

    assert merged["batch_id"] == batch_id and merged["quarantined"] == 6
    assert merged["loaded"] == len(delta) - 6
    assert watermark(env) != before, "the watermark moves once every record is loaded or parked"
    parked = dict(query(env, "SELECT record_key, parked_by FROM audit.quarantine WHERE batch_id = %s", batch_id))
    assert parked == {**{i: "alice" for i in broken}, dated: "dag_run:manual__2025-01-01"}
    changes = {r[0] for r in query(env, "SELECT employee_id FROM core.worker_changes WHERE batch_id = %s", batch_id)}
    assert not changes & {*broken, dated}, "a parked record reached core"
    assert ids  # the tenant's other workers are untouched by the parking
    assert query(env, "SELECT count(*) FROM audit.batches WHERE batch_id = %s AND status = 'merged'"
                      " AND records_in = records_loaded + records_quarantined", batch_id) == [(1,)]


def test_quarantined_record_with_a_nul_byte_is_stored(people_env) -> None:
    env = people_env
    ids = employee_ids(env)

    def nul(record: dict) -> None:
        record["name"]["given"] = "Ann\x00a"
        record["employment"]["status"] = "retired"
        record["note\x00"] = "x"

    merged = run(env, rewritten(env, {ids[7]: nul}))
    assert merged["loaded"] == 59 and merged["quarantined"] == 1
    (record, reason), = query(env, "SELECT record, reason FROM audit.quarantine WHERE record_key = %s", ids[7])
    assert record["name"]["given"] == "Ann\\u0000a" and record["note\\u0000"] == "x"
    assert ids[7] in reason
