"""`make demo` as a new user runs it: the clean pipeline, then a bad day, then a second run.

Runs the demo module in its own build directory (own embedded Postgres unless
CREDSYNC_DATABASE_URL is set, own Airflow home, own sandboxes) and checks what
it prints and build/demo/summary.json the way a person and a machine read them:
the clean run, each failure class of the bad day seen and resolved through the
on-call commands, the state clean afterwards, and a second run (``--no-bad-day``)
duplicating nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ["hris_delta_export", "scim_provisioning", "lms_completion_pull", "credential_issuance",
            "registry_push", "hris_writeback", "recertification", "reconciliation"]
STATE_KEYS = ("workers", "learners", "completions", "credentials", "pushed_acknowledged", "writebacks_delivered")
FAILURE_CLASSES = ("poisoned_record", "mass_termination", "registry_outage", "seeded_drift")


def user_env(**extra: str) -> dict[str, str]:
    """A user's shell: tests/conftest.py puts this process in Airflow's unit-test mode, a user is not."""
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__CORE__UNIT_TEST_MODE"}
    return {**env, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}", **extra}


def run_demo(build_dir: Path, *args: str) -> tuple[dict, str]:
    env = user_env(CREDSYNC_BUILD_DIR=str(build_dir))
    done = subprocess.run([sys.executable, "-m", "credsync_dev.localenv.demo", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-4000:]
    assert "credsync demo summary" in done.stdout
    return json.loads((build_dir / "demo" / "summary.json").read_text()), done.stdout


@pytest.mark.slow
@pytest.mark.timeout(3000)  # two whole demo runs, one with the bad day; the suite-wide limit is for single tests
def test_demo_runs_every_dag_survives_a_bad_day_and_a_second_run_duplicates_nothing(tmp_path):
    first, printed = run_demo(tmp_path / "build")

    assert [(d["dag_id"], d["state"]) for d in first["dags"]] == [(dag, "success") for dag in PIPELINE]
    totals = first["totals"]
    assert totals["workers"] == 1300
    assert totals["credentials_active"] > 0
    assert totals["pushed_acknowledged"] >= totals["credentials_active"]
    assert totals["pushes_pending"] == 0
    assert totals["writebacks_delivered"] > 0
    assert totals["findings_open"] == 0, "a clean demo run reports zero findings"
    for stage in first["stages"]:
        assert stage["records_in"] == stage["loaded"] + stage["quarantined"] + stage["dead_lettered"], stage
    assert {s["source"] for s in first["stages"]} == {"hris", "lms"}
    assert "How to read it:" in printed and "psql -h " in printed

    # The bad day: every DAG ended as expected (only the refused export failed) ...
    bad = first["bad_day"]
    assert bad["dags_as_expected"], bad["dags"]
    assert [d["dag_id"] for d in bad["dags"] if d["state"] == "failed"] == ["hris_delta_export"]
    # ... each failure class was seen ...
    seen = bad["seen"]
    assert [q["rule"] for q in seen["poisoned_record"]["quarantined"]] == ["control_characters"]
    assert seen["poisoned_record"]["good_statement_loaded"]
    assert seen["mass_termination"]["status"] == "rejected"
    assert "mass_termination" in seen["mass_termination"]["verdict"]
    # The good CPR pass earns its credential(s) during the outage: each submission dead-lettered.
    letters = seen["registry_outage"]["dead_letters"]
    assert letters and {d["reason"] for d in letters} == {"registry_rejected_422"}
    assert {(f["finding_type"], f["entity_key"]) for f in seen["seeded_drift"]["findings"]} \
        == {("learner_active_mismatch", bad["drifted_worker"])}
    # ... shown with its resolution ...
    for heading, command in (("1. Poisoned record", "audit.quarantine"),
                             ("2. Mass termination", f"park_batch_id={seen['mass_termination']['batch_id']}"),
                             ("3. Registry outage", "dlq_replay"), ("4. Seeded drift", "scim_provisioning")):
        assert heading in printed and command in printed, (heading, command)
    # ... and resolved the on-call way; the state is clean, nothing duplicated.
    assert bad["resolved_checks"] == dict.fromkeys(FAILURE_CLASSES, True)
    assert seen["mass_termination_parked"] == len(bad["mass_terminated"])
    after = bad["totals_after"]
    assert bad["clean_after"] and after["dead_letters_open"] == after["findings_open"] == after["pushes_pending"] == 0
    assert after["workers"] == 1300
    # New credentials from the good statement and the corrected one, each acknowledged exactly once
    # (the dead-lettered ones through the replay): no duplicate push.
    new_credentials = after["credentials"] - totals["credentials"]
    assert new_credentials >= 2
    assert after["pushed_acknowledged"] - totals["pushed_acknowledged"] == new_credentials
    assert all(r == {"status": "replayed", "submission": "acknowledged"}
               for r in bad["resolved"]["registry_outage"]["letters"])
    assert "clean again: yes" in printed

    # The demo's connections are visible to `airflow connections list` (and the UI), secrets not.
    listed = subprocess.run([sys.executable, "-m", "airflow", "connections", "list", "-o", "json"], cwd=ROOT,
                            env=user_env(AIRFLOW_HOME=str(tmp_path / "build" / "airflow")),
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr[-2000:]
    assert {"credsync_warehouse", "registry_national", "hris_acme", "scim_globex", "lrs_acme"} \
        <= {c["conn_id"] for c in json.loads(listed.stdout[listed.stdout.index("["):])}
    secrets = (tmp_path / "build" / "demo" / "secrets.env").read_text()
    scim_token = next(line.split("=", 1)[1].strip("'") for line in secrets.splitlines()
                      if line.startswith("SANDBOX_SCIM_TOKEN="))
    assert scim_token not in listed.stdout

    second, _ = run_demo(tmp_path / "build", "--no-bad-day")

    assert all(d["state"] == "success" for d in second["dags"])
    assert "bad_day" not in second
    assert {k: second["totals"][k] for k in STATE_KEYS} == {k: after[k] for k in STATE_KEYS}
    assert second["totals"]["findings_open"] == 0
    # Nothing changed at the HRIS: no new worker rows. The LRS may release the last
    # statements only once its consistent-through time has passed them.
    assert sum(s["records_in"] for s in second["stages"] if s["source"] == "hris") == 0
