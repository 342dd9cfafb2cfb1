"""Every on-call step of the README and the runbook, run as written against a real Airflow.

One Airflow for the whole module (``tests/realairflow``): api-server, scheduler and
dag-processor on a metadata database of their own, LocalExecutor, the repo's DAGs and plugins,
the sandboxes and the warehouse started as ``make demo`` starts them. The clean pipeline runs
first (``airflow dags test``, as the demo does), then drift is seeded in the sandboxes; from
there every step is what a person types: commands taken from README.md / docs/runbook.md at
test time (:mod:`tests.oncall.docs`), REST calls as the docs give them. The tests run in file
order, each step on the state the one before left, as on-call would go through them.

Each test names the doc section it executes (``@pytest.mark.runbook``);
``test_runbook_coverage.py`` fails when a section has no test.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from credsync.recon.config import load_recon_config
from credsync.warehouse import connect
from credsync_dev.localenv.pipeline import PIPELINE, DemoEnvironment, demo_environment
from tests.oncall import docs
from tests.realairflow.local import RealAirflow, airflow_settings, free_port, local_airflow

pytestmark = [pytest.mark.ci_slow, pytest.mark.timeout(1500)]

# 300 acme workers keep one drifted learner and one lost certificate under the reconciliation
# gate's 1 % (include/recon.yaml), so every run of the backfill passes its gate; globex only
# has to be there (every DAG maps over both tenants).
WORKFORCE = {"acme": {"workers": 300, "seed": 7}, "globex": {"workers": 30, "seed": 11}}
TENANT = "acme"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Drift:
    deactivated_worker: str  # LMS account switched inactive over SCIM
    deactivated_scim_id: str
    lost_credential: str  # its certificate deleted from the registry
    lost_registry_id: str
    lost_submission_key: str


@dataclass
class OnCall:
    demo: DemoEnvironment
    airflow: RealAirflow
    drift: Drift
    seconds: dict[str, float] = field(default_factory=dict)
    backfill_runs: list[dict] = field(default_factory=list)
    full_export_run: str = ""  # the README's full re-export, run once unpaused

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with connect(self.demo.warehouse_url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def oncall(tmp_path_factory: pytest.TempPathFactory, postgres_server) -> Iterator[OnCall]:
    started = time.monotonic()
    build_dir: Path = tmp_path_factory.mktemp("oncall")
    home = build_dir / "airflow"  # the demo's Airflow home under its build directory
    metadata_db = postgres_server.temporary_database_name("credsync_oncall_airflow")
    metadata_url = postgres_server.create_database(metadata_db)
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("CREDSYNC_BUILD_DIR", str(build_dir))  # never the repository's build/
            # tests/conftest.py puts this process in unit-test mode; the Airflow here is the real thing.
            env.delenv("AIRFLOW__CORE__UNIT_TEST_MODE", raising=False)
            for key, value in airflow_settings(home, metadata_url, free_port()).items():
                env.setenv(key, value)
            with demo_environment(build_dir, workforce=WORKFORCE, temporary_database=True) as demo:
                seconds = {"setup": _since(started)}
                clean = demo.run_dags(list(PIPELINE[:-1]), log_name="oncall-pipeline")
                assert [r.dag_id for r in clean] == list(PIPELINE[:-1]) and all(r.succeeded for r in clean), \
                    f"clean pipeline: {[(r.dag_id, r.state) for r in clean]}; log {clean[-1].log if clean else '-'}"
                seconds["pipeline"] = _since(started)
                drift = _seed_drift(demo)
                with local_airflow(home, demo.env, migrate=False) as airflow:
                    seconds["airflow"] = _since(started)
                    yield OnCall(demo=demo, airflow=airflow, drift=drift, seconds=seconds)
                    print("on-call steps timings (s):", seconds, "total", _since(started))
    finally:
        postgres_server.drop_database(metadata_db)


def _seed_drift(demo: DemoEnvironment) -> Drift:
    """One LMS account switched off behind credsync's back, one certificate the registry lost."""
    with connect(demo.warehouse_url, autocommit=True) as conn:
        # Credentials younger than grace_minutes are not compared (pushes may be in flight): let the
        # clean run lie that far back, so the reconciliation runs compare every one.
        conn.execute("UPDATE core.credentials SET created_at = created_at - make_interval(mins => %s)",
                     (load_recon_config().grace_minutes + 1,))
        candidates = conn.execute(
            """
            SELECT w.employee_id, l.scim_id, min(c.credential_id::text)
            FROM core.workers w
            JOIN core.learners l ON l.tenant_id = w.tenant_id AND l.employee_id = w.employee_id AND l.active
            LEFT JOIN core.credentials c ON c.tenant_id = w.tenant_id AND c.employee_id = w.employee_id
                                        AND c.status = 'active'
            WHERE w.tenant_id = %s AND w.employment_status = 'active'
              AND NOT EXISTS (SELECT 1 FROM core.workers r WHERE r.tenant_id = w.tenant_id
                              AND r.manager_id = w.employee_id)
            GROUP BY w.employee_id, l.scim_id ORDER BY w.employee_id
            """, (TENANT,)).fetchall()
        deactivated = next(c for c in candidates if c[2] is None)
        lost_credential = next(c[2] for c in candidates if c[2] is not None)
        lost_registry_id, lost_key = conn.execute(
            "SELECT registry_id, idempotency_key FROM core.registry_submissions "
            "WHERE credential_id = %s AND operation = 'issue' AND state = 'acknowledged'",
            (lost_credential,)).fetchone()
    sandboxes = demo.sandboxes
    response = httpx.patch(
        f"{sandboxes.url('scim')}/{TENANT}/v2/Users/{deactivated[1]}", headers=_scim_headers(demo),
        json={"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False}]},
        timeout=30)
    assert response.is_success, response.text
    response = httpx.delete(f"{sandboxes.admin('registry')}/certificates/{lost_registry_id}", timeout=30)
    assert response.status_code == 204, response.text
    return Drift(deactivated_worker=deactivated[0], deactivated_scim_id=deactivated[1],
                 lost_credential=lost_credential, lost_registry_id=lost_registry_id, lost_submission_key=lost_key)


def _scim_headers(demo: DemoEnvironment) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo.sandboxes.env['SANDBOX_SCIM_TOKEN']}",
            "Content-Type": "application/scim+json"}


def _since(started: float) -> float:
    return round(time.monotonic() - started, 1)


def _triggered_run_id(output: str) -> str:
    """The run id ``airflow dags trigger`` printed (its table or JSON output)."""
    match = re.search(r"(manual__[0-9T:.+\-]+)", output)
    assert match, f"no run id in `airflow dags trigger` output:\n{output}"
    return match.group(1)


def _paused(airflow: RealAirflow, dag_id: str) -> bool:
    response = airflow.api("GET", f"/api/v2/dags/{dag_id}")
    response.raise_for_status()
    return response.json()["is_paused"]


def _full_exports(oncall: OnCall) -> int:
    return oncall.sql("SELECT count(*) FROM audit.batches WHERE source = 'hris' AND window_key = 'full' "
                      "AND status = 'merged'")[0][0]


# --- README "Other commands", make airflow: DAGs start paused ------------------------------------

@pytest.mark.runbook("readme:make-airflow-dags-start-paused", "readme:backfill-a-window")
def test_a_run_of_a_paused_dag_stays_queued_until_the_readme_unpause(oncall: OnCall) -> None:
    airflow = oncall.airflow
    assert _paused(airflow, "hris_delta_export"), "DAGs are meant to start paused, as make airflow starts them"
    # README, *Backfill a window*: a full re-export (loads are watermark based; it deduplicates).
    trigger = docs.inline_command(docs.README, "airflow dags trigger hris_delta_export")
    full_before = _full_exports(oncall)
    run_id = _triggered_run_id(airflow.shell(trigger).stdout)
    time.sleep(10)  # the scheduler loops every second or so: long enough to have started it if it would
    response = airflow.api("GET", f"/api/v2/dags/hris_delta_export/dagRuns/{run_id}")
    assert response.json()["state"] == "queued", "a run of a paused DAG should wait, queued"

    # README (make airflow): `AIRFLOW_HOME=build/airflow .venv/bin/airflow dags unpause <dag_id>`.
    unpause = docs.inline_command(docs.README, "AIRFLOW_HOME=build/airflow .venv/bin/airflow dags unpause")
    airflow.shell(unpause.replace("<dag_id>", "hris_delta_export"))
    assert not _paused(airflow, "hris_delta_export")
    run = airflow.wait_run("hris_delta_export", run_id, timeout=420)
    assert run["state"] == "success", airflow.task_instances("hris_delta_export", run_id)
    oncall.full_export_run = run_id
    assert _full_exports(oncall) == full_before + 2  # one more full export per tenant, merged


@pytest.mark.runbook("readme:deploying-check-and-unpause")
def test_the_deploy_steps_unpause_every_dag(oncall: OnCall) -> None:
    block = docs.block_after(docs.README, "**Check and unpause.**", "bash")
    airflow = oncall.airflow
    airflow.shell(block)
    response = airflow.api("GET", "/api/v2/dags", params={"limit": 100})
    dags = {d["dag_id"]: d["is_paused"] for d in response.json()["dags"]}
    named = set(re.search(r"'\^\((.*)\)\$'", block).group(1).split("|"))
    assert set(dags) == named, f"the README's unpause names {sorted(named)}; the DAG folder holds {sorted(dags)}"
    assert not any(dags.values()), dags
    # The CLI logs its warnings to stdout too: the answer is the last line.
    output = airflow.shell("airflow dags list-import-errors -o json").stdout.strip()
    assert output.splitlines()[-1] in ("[]", "No data found"), output


# --- README *Backfill a window* / runbook *Reconciliation*: the acceptance ------------------------

@pytest.mark.runbook("readme:backfill-a-window", "runbook:reconciliation-reconciliation-dag")
def test_the_readme_backfill_of_reconciliation_ends_with_seven_successful_runs_and_the_seeded_findings(
        oncall: OnCall) -> None:
    airflow, drift = oncall.airflow, oncall.drift
    command = docs.inline_command(docs.README, "airflow backfill create --dag-id reconciliation")
    started = time.monotonic()
    airflow.shell(command)
    runs = airflow.wait_runs("reconciliation", 7, run_type="backfill", timeout=900)
    oncall.seconds["backfill"] = _since(started)
    oncall.backfill_runs = runs
    assert [r["state"] for r in runs] == ["success"] * 7, \
        {r["dag_run_id"]: [(t["task_id"], t["map_index"], t["state"]) for t in
                           airflow.task_instances("reconciliation", r["dag_run_id"]) if t["state"] != "success"]
         for r in runs if r["state"] != "success"}
    days = sorted(r["logical_date"][:10] for r in runs)
    assert days == [f"2026-11-0{d}" for d in range(1, 8)]

    # One recon run per tenant and DAG run; none left half done.
    recon_runs = oncall.sql("SELECT tenant_id, dag_run_id, status FROM recon.runs ORDER BY as_of")
    assert sorted((t, d) for t, d, _ in recon_runs) == sorted(
        (t, r["dag_run_id"]) for r in runs for t in WORKFORCE)
    assert {s for *_, s in recon_runs} <= {"compared", "passed"}, recon_runs

    # The seeded drift, found once, seen by every run, escalated to its owner after escalate_after_runs
    # (its safe fix waits for flows the backfill does not run); nothing else, nothing for globex.
    findings = oncall.sql("SELECT tenant_id, finding_type, entity_key, action, owner, times_seen "
                          "FROM recon.findings WHERE resolved_at IS NULL ORDER BY finding_type")
    assert findings == [
        (TENANT, "learner_active_mismatch", drift.deactivated_worker, "flagged", "people-systems", 7),
        (TENANT, "registry_missing", drift.lost_credential, "flagged", "data-platform", 7),
    ]
    # The safe fixes were applied once: the learner re-queued, the lost certificate's acknowledged
    # submission parked for dlq_replay (one letter, not one per run).
    assert oncall.sql("SELECT synced_hash FROM core.learners WHERE tenant_id = %s AND employee_id = %s",
                      (TENANT, drift.deactivated_worker)) == [("recon:resync",)]
    assert oncall.sql("SELECT entity_key, reason, status FROM audit.dead_letters WHERE source = 'registry'") == [
        (drift.lost_submission_key, "recon_registry_missing", "open")]
    # Each run wrote its report (report ran after the gate, for both tenants).
    reports = [t for r in runs for t in airflow.task_instances("reconciliation", r["dag_run_id"])
               if t["task_id"] == "reconcile_tenant.report"]
    assert len(reports) == 14 and {t["state"] for t in reports} == {"success"}


@pytest.mark.runbook("runbook:reconciliation-reconciliation-dag")
def test_clearing_compare_of_a_backfilled_run_reuses_its_run_and_findings(oncall: OnCall) -> None:
    """Runbook, *Reconciliation*, **Rerun**: no duplicate findings, no second fix."""
    airflow = oncall.airflow
    assert oncall.backfill_runs, "the backfill test runs first"
    run_id = oncall.backfill_runs[-1]["dag_run_id"]
    before = oncall.sql("SELECT finding_id, finding_type, entity_key FROM recon.findings ORDER BY finding_id")
    runs_before = oncall.sql("SELECT count(*) FROM recon.runs")[0][0]
    response = airflow.api("POST", "/api/v2/dags/reconciliation/clearTaskInstances", json={
        "dag_run_id": run_id, "task_ids": [["reconcile_tenant.compare", 0]], "include_downstream": True,
        "only_failed": False, "dry_run": False})
    assert response.status_code == 200, response.text
    cleared = {t["task_id"] for t in response.json()["task_instances"]}
    assert cleared == {"reconcile_tenant.compare", "reconcile_tenant.compare_groups", "reconcile_tenant.gate",
                       "reconcile_tenant.report"}, cleared
    run = airflow.wait_run("reconciliation", run_id, timeout=420)
    assert run["state"] == "success"
    compare = next(t for t in airflow.task_instances("reconciliation", run_id)
                   if t["task_id"] == "reconcile_tenant.compare" and t["map_index"] == 0)
    assert compare["try_number"] == 2 and compare["state"] == "success"
    assert oncall.sql("SELECT finding_id, finding_type, entity_key FROM recon.findings ORDER BY finding_id") == before
    assert oncall.sql("SELECT count(*) FROM recon.runs")[0][0] == runs_before
    assert oncall.sql("SELECT count(*) FROM audit.dead_letters WHERE source = 'registry'")[0][0] == 1


@pytest.mark.runbook("runbook:reconciliation-reconciliation-dag")
def test_the_runbook_lists_the_backfill_through_the_rest_api(oncall: OnCall) -> None:
    """*`compare` failed with `SnapshotMissing`*: `GET /api/v2/backfills?dag_id=reconciliation` gives its id."""
    runbook = docs.text(docs.RUNBOOK)
    listing = re.search(r"`GET (/api/v2/backfills\?dag_id=reconciliation)`", runbook)
    cancel = re.search(r"`PUT (/api/v2/backfills/<id>/cancel)`", runbook)
    assert listing and cancel, "runbook: the backfill REST calls moved"
    response = oncall.airflow.api("GET", listing.group(1))
    assert response.status_code == 200, response.text
    [backfill] = response.json()["backfills"]
    assert backfill["max_active_runs"] == 1, backfill
    # Its runs are all done; cancelling it (as the runbook has on-call do for an overlapping one)
    # answers and leaves the finished runs as they are.
    response = oncall.airflow.api("PUT", cancel.group(1).replace("<id>", str(backfill["id"])))
    assert response.status_code in (200, 409), response.text
    runs = [r for r in oncall.airflow.runs("reconciliation") if r["run_type"] == "backfill"]
    assert [r["state"] for r in runs] == ["success"] * 7


# --- README *Rerun one tenant's mapped task* ----------------------------------------------------

@pytest.mark.runbook("readme:rerun-one-tenants-mapped-task")
def test_the_readme_curl_clears_one_tenants_mapped_task_only(oncall: OnCall) -> None:
    airflow = oncall.airflow
    run_id = oncall.full_export_run
    assert run_id, "the paused-DAG test runs the full export first"

    def merges() -> dict[int, int]:
        return {t["map_index"]: t["try_number"] for t in airflow.task_instances("hris_delta_export", run_id)
                if t["task_id"] == "export_tenant.merge"}

    before = merges()
    block = docs.block_after(docs.README, "**Rerun one tenant's mapped task.**")
    assert '"task_ids": [["export_tenant.merge", 1]]' in block, "the README's example clears globex's merge"
    command = (block.replace("http://127.0.0.1:8080", airflow.url).replace("<password>", airflow.password)
               .replace("<run id>", run_id))
    answer = airflow.shell(command).stdout
    assert json.loads(answer)["total_entries"] >= 1, answer
    assert airflow.wait_run("hris_delta_export", run_id, timeout=420)["state"] == "success"
    after = merges()
    assert after == {0: before[0], 1: before[1] + 1}, (before, after)


# --- README *Replay dead letters*, runbook *Rerun, backfill, replay*: reconciliation's letters --------

@pytest.mark.runbook("readme:replay-dead-letters", "runbook:rerun-backfill-replay-read-a-gx-rejection")
def test_the_readme_dlq_replay_restores_the_certificate_reconciliation_parked(oncall: OnCall) -> None:
    airflow, drift = oncall.airflow, oncall.drift
    dry, real = (line for line in docs.shell_lines(docs.block_after(docs.README, "**Replay dead letters.**"),
                                                   "airflow dags trigger dlq_replay"))
    assert '"dry_run": true' in dry and '"dry_run": false' in real
    letter = "SELECT status, replay_outcome FROM audit.dead_letters WHERE entity_key = %s"

    run_id = _triggered_run_id(airflow.shell(dry).stdout)
    assert airflow.wait_run("dlq_replay", run_id)["state"] == "success"
    assert oncall.sql(letter, (drift.lost_submission_key,))[0][0] == "open"  # a preview changes nothing

    run_id = _triggered_run_id(airflow.shell(real).stdout)
    assert airflow.wait_run("dlq_replay", run_id)["state"] == "success"
    assert oncall.sql(letter, (drift.lost_submission_key,))[0][0] == "replayed"
    # Sent again under the submission's own idempotency key: the registry acknowledged it.
    assert oncall.sql("SELECT state FROM core.registry_submissions WHERE idempotency_key = %s",
                      (drift.lost_submission_key,)) == [("acknowledged",)]


# --- README *Trigger a manual DAG from the UI*, runbook *Trigger button disabled* ----------------

@pytest.mark.runbook("readme:trigger-a-manual-dag-from-the-ui",
                     "runbook:trigger-button-disabled-in-a-dags-trigger-form")
def test_dlq_replay_triggered_with_its_form_defaults_is_a_dry_run(oncall: OnCall) -> None:
    """"From a shell, the form's defaults are what `airflow dags trigger <dag>` uses"."""
    assert "`airflow dags trigger <dag>`" in docs.text(docs.RUNBOOK)
    airflow = oncall.airflow
    letters = oncall.sql("SELECT dead_letter_id, status, updated_at FROM audit.dead_letters ORDER BY 1")
    run_id = _triggered_run_id(airflow.shell("airflow dags trigger dlq_replay").stdout)
    run = airflow.wait_run("dlq_replay", run_id)
    assert run["state"] == "success"
    assert oncall.sql("SELECT dead_letter_id, status, updated_at FROM audit.dead_letters ORDER BY 1") == letters


# --- README *Read a GX rejection*, runbook *A rejected HRIS batch*: a mass termination, parked ---------

@pytest.mark.runbook("readme:read-a-gx-rejection", "runbook:a-rejected-hris-batch-hris_delta_export-task-gate")
def test_a_mass_termination_is_refused_read_from_the_gate_log_and_parked_with_the_trigger_params(
        oncall: OnCall) -> None:
    from credsync_dev.localenv.bad_day import MASS_TENANT, BadDay, _mass_terminate

    airflow, demo = oncall.airflow, oncall.demo
    day = BadDay(started_at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()))
    with connect(demo.warehouse_url, autocommit=True) as conn:
        _mass_terminate(demo, conn, day)
    run_id = _triggered_run_id(airflow.shell("airflow dags trigger hris_delta_export").stdout)
    assert airflow.wait_run("hris_delta_export", run_id, timeout=420)["state"] == "failed"
    gates = {t["map_index"]: t for t in airflow.task_instances("hris_delta_export", run_id)
             if t["task_id"] == "export_tenant.gate"}
    assert (gates[0]["state"], gates[1]["state"]) == ("success", "failed")  # acme loads; globex is refused
    assert gates[1]["try_number"] == 1  # a rejection fails at once, no retries

    # The log starts with the verdict (README: "The failed gate task's log starts with the verdict").
    response = airflow.api("GET", f"/api/v2/dags/hris_delta_export/dagRuns/{run_id}/taskInstances/"
                                  "export_tenant.gate/logs/1", params={"map_index": 1})
    assert response.status_code == 200, response.text
    log = "\n".join(str(line.get("event", line)) if isinstance(line, dict) else str(line)
                     for line in response.json()["content"])
    verdict_lines = [line for line in log.splitlines() if "GX gate hris_workers" in line]
    assert verdict_lines and f"tenant={MASS_TENANT}" in verdict_lines[0] and "BLOCKED" in verdict_lines[0], log[-3000:]
    assert "mass_termination" in log and "What to do: docs/runbook.md#" in log

    # README's SQL: the rejected batch with the same verdict.
    sql = docs.block_after(docs.README, "**Read a GX rejection.**", "sql").split(";")[0]
    rejected = oncall.sql(sql)
    assert rejected and rejected[0][2] == "rejected", rejected
    batch_id, validation = str(rejected[0][0]), rejected[0][4]
    assert "mass_termination" in validation["credsync_verdict"]

    # Runbook step 2: trigger hris_delta_export with the park params it names.
    names = set(re.findall(r"`(park_\w+)=", docs.text(docs.RUNBOOK)))
    assert {"park_tenant", "park_batch_id", "park_records", "park_note"} <= names, names
    conf = {"park_tenant": MASS_TENANT, "park_batch_id": batch_id, "park_records": day.mass_terminated,
            "park_note": "INC-42 export bug confirmed by HR"}
    run_id = _triggered_run_id(airflow.shell(f"airflow dags trigger hris_delta_export --conf '{json.dumps(conf)}'")
                               .stdout)
    assert airflow.wait_run("hris_delta_export", run_id, timeout=420)["state"] == "success"
    assert oncall.sql("SELECT status FROM audit.batches WHERE batch_id = %s", (batch_id,)) == [("merged",)]
    parked = oncall.sql("SELECT record_key, park_note FROM audit.quarantine WHERE batch_id = %s "
                        "AND parked_at IS NOT NULL ORDER BY record_key", (batch_id,))
    assert sorted({key for key, _ in parked}) == day.mass_terminated
    assert {note for _, note in parked} == {conf["park_note"]}
    # Nobody was terminated in core by the refused export.
    assert oncall.sql("SELECT count(*) FROM core.workers WHERE tenant_id = %s AND employee_id = ANY(%s) "
                      "AND employment_status = 'terminated'", (MASS_TENANT, day.mass_terminated)) == [(0,)]
