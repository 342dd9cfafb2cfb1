"""Killing the scheduler (and with it, on LocalExecutor, every task it runs) during a completion event
burst loses no event: after a restart every event is processed exactly once (issue 18).

A real Airflow on this machine (api-server with the receiver, scheduler, dag-processor, triggerer;
``credsync_dev.bench.events_bench.events_environment``). Half of the burst is sent, the scheduler's
whole process tree is SIGKILLed while a ``completion_events`` task runs, the other half is sent while
no scheduler runs (the api-server still records them), then a new scheduler starts. Counts are checked
against the LMS export, the registry listing and the warehouse.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time

import psutil
import pytest

from credsync_dev.bench.events_bench import (
    TENANT,
    acme_workers,
    counts,
    events_environment,
    send_burst,
    wait_delivered,
)
from tests.distributed.cluster import FAST_FAILURE_DETECTION, _start

pytestmark = [pytest.mark.slow, pytest.mark.ci_slow, pytest.mark.timeout(2400)]
EVENTS = 120


def kill_tree(process) -> int:
    """SIGSTOP then SIGKILL ``process`` and everything under it (a machine lost); its exit status."""
    root = psutil.Process(process.popen.pid)
    tree = [root, *root.children(recursive=True)]
    for proc in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGSTOP)
    tree = [root, *root.children(recursive=True)]
    for proc in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGKILL)
    code = process.popen.wait(timeout=30)
    psutil.wait_procs(tree[1:], timeout=30)
    return code


def running_tasks(airflow) -> list[dict]:
    found = []
    for run in airflow.runs("completion_events"):
        found += [t for t in airflow.task_instances("completion_events", run["dag_run_id"])
                  if t["state"] == "running" and t["task_id"].startswith("process_tenant.")]
    return found


def test_killing_the_scheduler_mid_burst_loses_no_event_and_duplicates_none() -> None:
    with events_environment(EVENTS + 40, say=print, extra_airflow_env=FAST_FAILURE_DETECTION) as (demo, airflow):
        warehouse = demo.warehouse_url
        employees = acme_workers(warehouse)[:EVENTS]
        receiver = f"{airflow.url}/credsync-events/lms/{TENANT}/completions"
        lms = demo.sandboxes.url("lrs")
        first, _ = send_burst(receiver, lms, employees[:EVENTS // 2], 10, 0.2, print)

        deadline = time.monotonic() + 600
        while not (busy := running_tasks(airflow)):
            assert time.monotonic() < deadline, "no completion_events task ever ran: nothing to kill"
            time.sleep(1)
        exit_code = kill_tree(airflow.components.pop("scheduler"))
        assert exit_code == -signal.SIGKILL
        killed = {(t["dag_run_id"], t["task_id"]) for t in busy}

        # No scheduler now: the receiver (api-server) still records every event.
        second, answers = send_burst(receiver, lms, employees[EVENTS // 2:], 10, 0.2, print)
        assert set(answers) <= {202, 200}, answers
        airflow.components["scheduler"] = _start("scheduler-restarted", [sys.executable, "-m", "airflow", "scheduler"],
                                                 airflow.env, airflow.home / "component-logs")

        took = wait_delivered(warehouse, employees, 1500, print)
        assert took == took, "not every event reached the HRIS write-back after the restart"  # NaN on timeout
        seen = counts(demo, warehouse, first | second, employees)
        assert seen["lms_listing"] == seen["completions"] == seen["credentials"] == EVENTS, seen
        assert seen["registry_certificates"] == EVENTS and seen["registry_duplicates"] == 0, seen
        assert seen["events"] == {"loaded": EVENTS}, seen
        # The killed tasks really were cut off and then retried (or their events taken over).
        print("killed:", sorted(killed))
