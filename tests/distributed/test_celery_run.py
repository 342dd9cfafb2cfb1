"""The pipeline on CeleryExecutor with a worker killed mid-task ends exactly where ``dags test`` ends.

See :mod:`tests.distributed.scenario` for the set-up. Needs Redis (a
``redis-server`` binary, or one on 127.0.0.1:6379): skipped without it
locally, an error in CI.
"""

from __future__ import annotations

import os

import pytest

from tests.distributed import scenario
from tests.distributed.cluster import BrokerUnavailable


@pytest.mark.ci_slow
@pytest.mark.timeout(2400)
def test_pipeline_on_celery_survives_a_killed_worker_and_matches_dags_test(tmp_path, postgres_server, monkeypatch):
    # Both runs use the session's Postgres (configured, or the embedded one under build/), not an embedded
    # server of their own under tmp_path: that one runs as another OS user, and a second pytest session
    # on the machine resets /tmp/pytest-of-<user> to 0700 under it (its data directory then vanishes).
    monkeypatch.setenv("CREDSYNC_DATABASE_URL", postgres_server.url)
    try:
        result = scenario.run(tmp_path)
    except BrokerUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))

    # Every DAG succeeded on the cluster, in the reference's order.
    assert [(r["dag_id"], r["state"]) for r in result.distributed_runs] == \
        [(r["dag_id"], "success") for r in result.reference_runs]

    # A worker really died mid-task (SIGKILL), and the task it ran was retried elsewhere and succeeded.
    kill = result.kill
    assert kill is not None, "no provision task was seen running on a worker: nothing was killed"
    assert result.killed_worker_exit == -9
    tries = result.killed_task_tries
    assert [t["try_number"] for t in tries] == sorted({t["try_number"] for t in tries})
    killed_try = next(t for t in tries if t["try_number"] == kill.try_number)
    assert killed_try["state"] in ("failed", "up_for_retry"), tries
    assert tries[-1]["state"] == "success" and tries[-1]["try_number"] > kill.try_number, tries

    # Nothing lost, nothing duplicated: the warehouse and the outside systems hold what the reference holds.
    assert result.reference_rows["core.workers"] == sum(w["workers"] for w in scenario.SMALL_WORKFORCE.values())
    assert result.reference_rows["core.learners"] > 0 and result.reference_rows["core.registry_submissions"] > 0
    assert result.differences == {}
    assert result.duplicates == dict.fromkeys(result.duplicates, 0)
    assert all(result.reference_outside.values()), "the reference run left the SCIM server or registry empty"
    assert result.distributed_outside == result.reference_outside
