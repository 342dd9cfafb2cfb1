"""What on-call runs from the README and the trigger forms works as written (issue 15)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dagbag(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AIRFLOW_HOME", str(tmp_path_factory.mktemp("airflow_home")))
        from airflow.dag_processing.dagbag import DagBag

        yield DagBag(dag_folder=str(ROOT / "dags"))


def test_an_empty_optional_field_of_a_trigger_form_validates(dagbag) -> None:
    """The UI sends an empty field as null: a param whose default is empty must accept null.

    Otherwise the form counts the field as required and the Trigger button stays disabled
    (dlq_replay's ``reason`` did: ``Param("", type="string")``).
    """
    from airflow.sdk.definitions.param import ParamValidationError

    refused = []
    for dag_id, dag in sorted(dagbag.dags.items()):
        for name, param in dag.params.items():
            param = dag.params.get_param(name)
            if param.value not in (None, ""):
                continue
            try:
                param.resolve(None)
            except ParamValidationError as exc:
                refused.append(f"{dag_id}.{name}: {exc}")
    assert refused == []


def test_dlq_replay_defaults_validate_as_the_form_sends_them(dagbag) -> None:
    import copy

    params = copy.deepcopy(dagbag.dags["dlq_replay"].params)
    for name in list(params):
        if params[name] in ("", None):
            params[name] = None
    resolved = params.validate()
    assert resolved["reason"] is None and resolved["dry_run"] is True


def test_reconciliation_report_without_a_compared_run_fails_with_a_clear_message(dagbag, monkeypatch) -> None:
    """trigger_rule=all_done runs report after a failed compare; it used to crash on ``None["tenant_id"]``."""
    from airflow.sdk.exceptions import AirflowFailException

    report = dagbag.dags["reconciliation"].get_task("reconcile_tenant.report")
    with pytest.raises(AirflowFailException, match=r"tenant acme: compare did not finish.*SnapshotMissing"):
        report.python_callable(None, tenant_id="acme")


def readme_command(prefix: str) -> list[str]:
    from tests.oncall.docs import README, inline_command

    return shlex.split(inline_command(README, prefix))


def test_readme_backfill_runs_one_reconciliation_at_a_time() -> None:
    """A backfill's own max_active_runs (10 by default) overrides the DAG's. Overlapping runs are
    correct (each keeps its snapshots, tests/integration/recon), but the README runs one at a time so
    findings come in date order: its command must set it to 1."""
    from airflow.cli import cli_parser

    argv = readme_command("airflow backfill create --dag-id reconciliation")
    args = cli_parser.get_parser().parse_args(argv[1:])
    assert args.dag_id == "reconciliation"
    assert args.max_active_runs == 1, f"README backfill runs {args.max_active_runs or 10} at a time: {argv}"
