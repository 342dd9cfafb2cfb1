"""`make demo`'s clean run shows believable completion -> delivery latencies (issue 15).

The synthetic learning history ends before the reference date, so all of it is a first load and
no latency; the LRS sandbox also receives the quarter hour's live completions
(``DEMO_WORKFORCE[...]["live"]``), stamped by the clock. After the clean run the dashboards' query
and the printed summary show their latency: minutes, from the completion time to the registry's
acknowledgement and the HRIS write-back, with the history counted apart.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from credsync.paths import PROJECT_ROOT as ROOT
from credsync_dev.localenv.pipeline import DEMO_WORKFORCE

pytestmark = [pytest.mark.slow, pytest.mark.ci_slow, pytest.mark.timeout(1800)]


def user_env(**extra: str) -> dict[str, str]:
    """A user's shell (not the unit-test mode tests/conftest.py puts this process in)."""
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW__CORE__UNIT_TEST_MODE"}
    return {**env, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}", **extra}


def test_the_clean_demo_run_delivers_live_completions_within_minutes(tmp_path, postgres_server):
    database = postgres_server.temporary_database_name("credsync_demo_latency")
    url = postgres_server.create_database(database)
    try:
        env = user_env(CREDSYNC_BUILD_DIR=str(tmp_path / "build"), CREDSYNC_DATABASE_URL=url)
        done = subprocess.run([sys.executable, "-m", "credsync_dev.localenv.demo", "--no-bad-day"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=1500)
        assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-4000:]
        summary = json.loads((tmp_path / "build" / "demo" / "summary.json").read_text())
    finally:
        postgres_server.drop_database(database)

    live = sum(spec.get("live", 0) for spec in DEMO_WORKFORCE.values())
    latency = summary["latency"]
    assert set(latency) == {"registry", "HRIS write-back"}, latency
    for channel, day in latency.items():
        # Every live completion earned at least one credential (CPR; some also first responder).
        assert day["live"] >= live, (channel, day)
        assert day["history"] > day["live"], (channel, day)  # the first load, counted apart
        # Completed in the quarter hour before the LRS started; delivered minutes after: not hours, not days.
        assert 30 <= day["p50_s"] <= day["p95_s"] <= 3600, (channel, day)
    printed = re.search(r"registry\s+\S+\s+p50 ([\d.]+) min, p95 ([\d.]+) min", done.stdout)
    assert printed and float(printed.group(1)) == pytest.approx(latency["registry"]["p50_s"] / 60, abs=0.05)
