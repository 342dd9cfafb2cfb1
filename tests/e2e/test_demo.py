"""`make demo` as a new user runs it: the whole pipeline through `airflow dags test`, twice.

Runs the demo module in its own build directory (own embedded Postgres unless
CREDSYNC_DATABASE_URL is set, own Airflow home, own sandboxes) and checks
build/demo/summary.json the way a machine reading it would.
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


def run_demo(build_dir: Path) -> dict:
    env = {**os.environ, "CREDSYNC_BUILD_DIR": str(build_dir), "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"}
    done = subprocess.run([sys.executable, "-m", "credsync_dev.localenv.demo"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert "credsync demo summary" in done.stdout
    return json.loads((build_dir / "demo" / "summary.json").read_text())


@pytest.mark.slow
@pytest.mark.timeout(1800)  # two whole demo runs; the suite-wide limit is for single tests
def test_demo_runs_every_dag_and_a_second_run_duplicates_nothing(tmp_path):
    first = run_demo(tmp_path / "build")

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

    second = run_demo(tmp_path / "build")

    assert all(d["state"] == "success" for d in second["dags"])
    assert {k: second["totals"][k] for k in STATE_KEYS} == {k: totals[k] for k in STATE_KEYS}
    assert second["totals"]["findings_open"] == 0
    # Nothing changed at the HRIS: no new worker rows. The LRS may release the last
    # statements only once its consistent-through time has passed them.
    assert sum(s["records_in"] for s in second["stages"] if s["source"] == "hris") == 0
