"""The grid label of a tenant task shows the tenant id in every state, read back from the metadata DB.

A real DAG run (``dag.test()``: the scheduler's own expansion and trigger-rule code, the task runner
and the execution API in-process) of a DAG written with ``credsync.dagkit.tenant_task``: acme's chain
succeeds, globex's extract fails (so its gate is ``upstream_failed``), a flaky task is
``up_for_retry`` once per tenant, and an operator is mapped the same way. The run happens in a
subprocess with its own AIRFLOW_HOME and SQLite metadata DB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE_DAG = '''
from datetime import timedelta

from airflow.sdk import BaseOperator, dag, task_group
from airflow.sdk.exceptions import AirflowFailException

from credsync.dagkit import TENANT_MAP_INDEX, enabled_tenants, tenant_task


@tenant_task
def extract(tenant):
    if tenant.tenant_id == "globex":
        raise AirflowFailException("globex: the export is broken")
    return {"tenant_id": tenant.tenant_id}


@tenant_task
def gate(tenant, staged):
    return staged


@tenant_task(retries=1, retry_delay=timedelta(seconds=0))
def flaky(tenant, ti=None):
    if ti.try_number == 1:
        raise RuntimeError(f"{tenant.tenant_id}: a transient failure")
    return tenant.tenant_id


class Push(BaseOperator):
    template_fields = ("tenant_id",)

    def __init__(self, *, tenant_id, **kwargs):
        super().__init__(**kwargs)
        self.tenant_id = tenant_id

    def execute(self, context):
        if self.tenant_id == "globex":
            raise AirflowFailException("globex: refused")
        return self.tenant_id


@task_group
def chain(tenant_id):
    gate(tenant_id, extract(tenant_id))


@dag(dag_id="tenant_labels_probe", schedule=None, catchup=False)
def tenant_labels_probe():
    tenants = enabled_tenants()
    chain.expand(tenant_id=tenants)
    flaky.expand(tenant_id=tenants)
    Push.partial(task_id="push", map_index_template=TENANT_MAP_INDEX).expand(tenant_id=tenants)


tenant_labels_probe()
'''

RUNNER = '''
import json
import sys

from airflow.settings import get_policy_plugin_manager

if sys.argv[1] == "with-policy":
    import credsync.tenant_labels

    get_policy_plugin_manager().register(credsync.tenant_labels)

from airflow.dag_processing.dagbag import DagBag
from airflow.models import DagRun, TaskInstance
from airflow.utils.state import TaskInstanceState

# Each scheduling pass of dag.test() starts with DagRun.update_state: read the rows that are
# up_for_retry right then, before the pass schedules their next try.
seen = []
update_state = DagRun.update_state


def watching_update_state(self, *args, session, **kwargs):
    seen.extend((ti.task_id, ti.map_index, str(ti.state), ti._rendered_map_index)
                for ti in session.query(TaskInstance).filter(TaskInstance.run_id == self.run_id,
                                                             TaskInstance.state == TaskInstanceState.UP_FOR_RETRY))
    return update_state(self, *args, session=session, **kwargs)


DagRun.update_state = watching_update_state
dag = DagBag(dag_folder=sys.argv[2]).dags["tenant_labels_probe"]
run = dag.test()
from airflow.utils.session import create_session

with create_session() as session:
    rows = [(ti.task_id, ti.map_index, str(ti.state), ti._rendered_map_index)
            for ti in session.query(TaskInstance).filter(TaskInstance.run_id == run.run_id)]
print("RESULT " + json.dumps(rows + seen))
'''


def _run_probe(tmp_path: Path, mode: str) -> dict[tuple[str, str], dict[str, str | None]]:
    """{(task_id, tenant at that index): {state: label}} of one probe run: the final rows, and the
    rows seen in state up_for_retry while the run went on."""
    home, dags = tmp_path / mode / "home", tmp_path / mode / "dags"
    dags.mkdir(parents=True)
    (dags / "probe.py").write_text(textwrap.dedent(PROBE_DAG), encoding="utf-8")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=600)
    done = subprocess.run([sys.executable, "-c", RUNNER, mode, str(dags)], env=env, capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    assert line, f"the probe run failed:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}"
    tenants = ["acme", "globex"]  # include/tenants.yaml, in order: map index i is tenants[i]
    found: dict[tuple[str, str], dict[str, str | None]] = {}
    for task_id, map_index, state, label in json.loads(line[len("RESULT "):]):
        if map_index >= 0:
            found.setdefault((task_id, tenants[map_index]), {})[state] = label
    return found


@pytest.fixture(scope="module")
def labelled(tmp_path_factory) -> dict[tuple[str, str], dict[str, str | None]]:
    return _run_probe(tmp_path_factory.mktemp("labels"), "with-policy")


@pytest.mark.slow
def test_the_states_a_run_reaches_are_the_ones_under_test(labelled) -> None:
    assert "failed" in labelled["chain.extract", "globex"]
    assert "upstream_failed" in labelled["chain.gate", "globex"]
    assert set(labelled["flaky", "acme"]) == {"success", "up_for_retry"}
    assert "failed" in labelled["push", "globex"] and "success" in labelled["push", "acme"]


@pytest.mark.slow
@pytest.mark.parametrize(("task_id", "tenant", "state"), [
    ("chain.extract", "acme", "success"),
    ("chain.extract", "globex", "failed"),
    ("chain.gate", "acme", "success"),
    ("chain.gate", "globex", "upstream_failed"),
    ("flaky", "acme", "up_for_retry"),
    ("flaky", "globex", "up_for_retry"),
    ("flaky", "globex", "success"),
    ("push", "acme", "success"),
    ("push", "globex", "failed"),
])
def test_the_grid_label_is_the_tenant_id(labelled, task_id: str, tenant: str, state: str) -> None:
    assert labelled[task_id, tenant][state] == tenant


@pytest.mark.slow
def test_without_the_scheduler_policy_an_upstream_failed_task_has_no_label(tmp_path) -> None:
    """Why the policy of credsync.tenant_labels exists: the task runner labels only tasks that run."""
    unlabelled = _run_probe(tmp_path, "without-policy")
    assert unlabelled["chain.gate", "globex"]["upstream_failed"] is None
    assert unlabelled["chain.extract", "globex"]["failed"] == "globex"  # the runner's own label


def test_a_retried_try_keeps_the_label_the_runner_rendered(monkeypatch) -> None:
    """Airflow 3.3.2 builds the RetryTask without the label (the execution API then stores null);
    keep_label_on_retry puts it back. Fails if Airflow's runner changes shape under it."""
    from types import SimpleNamespace

    from airflow.sdk.execution_time import task_runner

    from credsync.tenant_labels import keep_label_on_retry

    ti = SimpleNamespace(end_date=None, _failure_metrics_emitted=True, rendered_map_index="globex",
                         _ti_context_from_server=SimpleNamespace(should_retry=True))
    current = task_runner._finalize_task_failure  # already wrapped if a DAG file was imported in a task process
    original = getattr(current, "__wrapped__", current)
    monkeypatch.setattr(task_runner, "_finalize_task_failure", original)
    unpatched, _ = task_runner._finalize_task_failure(ti)
    keep_label_on_retry()
    keep_label_on_retry()  # idempotent
    msg, state = task_runner._finalize_task_failure(ti)
    assert state == "up_for_retry" and msg.type == "RetryTask" and msg.rendered_map_index == "globex"
    if unpatched.rendered_map_index == "globex":
        pytest.fail("Airflow now sends the label with a retry itself: remove keep_label_on_retry")


def test_every_mapped_task_of_the_dags_is_a_labelled_tenant_task(tmp_path, monkeypatch) -> None:
    """Each task mapped over tenants in dags/ carries TENANT_MAP_INDEX, and the scheduler policy finds
    the tenant list it maps over in the serialized DAG (what the scheduler holds)."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.definitions.mappedoperator import is_mapped
    from airflow.serialization.serialized_objects import DagSerialization

    from credsync.tenant_labels import TENANT_MAP_INDEX, _tenant_source

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    mapped, unlabelled = [], []
    for dag_id, dag in sorted(bag.dags.items()):
        scheduler_dag = DagSerialization.from_dict(DagSerialization.to_dict(dag))
        for task in scheduler_dag.tasks:
            if not (is_mapped(task) or task.get_closest_mapped_task_group() is not None):
                continue
            mapped.append(f"{dag_id}.{task.task_id}")
            if task.map_index_template != TENANT_MAP_INDEX or not isinstance(_tenant_source(task), tuple):
                unlabelled.append(f"{dag_id}.{task.task_id}")
    assert len(mapped) >= 20, mapped
    assert unlabelled == []
