"""A push worker SIGKILLed at different moments, then rerun (what clearing the task in Airflow does)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from credsync.delivery.push import push_submissions
from credsync.warehouse import connect
from tests.integration.delivery.conftest import TEST_SETTINGS
from tests.integration.delivery.helpers import admin, seed_credentials

ROOT = Path(__file__).resolve().parents[3]
# The push as a task runs it, in a process of its own so the test can kill it for real.
PUSH_PROCESS = """
import json, sys
from credsync.delivery.push import push_submissions
from credsync.hooks.registry import RegistryClient
from tests.integration.delivery.conftest import TEST_SETTINGS
url, base, client_id, secret = json.loads(sys.argv[1])
client = RegistryClient.for_url(base, client_id, secret, **TEST_SETTINGS.client_options())
push_submissions(url, "acme", client, settings=TEST_SETTINGS)
"""


def _states(url: str) -> Counter:
    with connect(url) as conn:
        return Counter(dict(conn.execute(
            "SELECT state, count(*) FROM core.registry_submissions WHERE tenant_id = 'acme' GROUP BY state"
        ).fetchall()))


@pytest.mark.slow
@pytest.mark.parametrize("kill_when", ["first_sent", "some_acknowledged"])
def test_push_killed_at_any_point_then_rerun_registers_each_credential_once(
        kill_when, fresh_warehouse_url, registry_url, registry_target, registry_client):
    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 600)
    # Slow answers so the kill lands inside a batch's round trip or between batches.
    admin(registry_url, "PUT", "/admin/faults", {"latency_ms": 300})
    args = json.dumps([fresh_warehouse_url, registry_target.base_url, registry_target.client_id,
                       registry_target.client_secret])
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}"}
    worker = subprocess.Popen([sys.executable, "-c", PUSH_PROCESS, args], cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            states = _states(fresh_warehouse_url)
            if (kill_when == "first_sent" and states["sent"]) or \
                    (kill_when == "some_acknowledged" and 0 < states["acknowledged"] < 600):
                break
            time.sleep(0.02)
        assert worker.poll() is None, "the push finished before it could be killed"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    killed_at = _states(fresh_warehouse_url)
    assert killed_at["acknowledged"] < 600
    admin(registry_url, "DELETE", "/admin/faults")

    push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS)

    listing = list(registry_client.list_certificates("acme"))
    assert len(listing) == 600
    assert len({(c["learner_id"], c["credential_version"]) for c in listing}) == 600, "no duplicates"
    assert _states(fresh_warehouse_url) == Counter({"acknowledged": 600})
    assert admin(registry_url, "GET", "/admin/stats")["certificates"]["total"] == 600
