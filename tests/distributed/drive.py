"""Trigger DAGs one after another on a running deployment and wait for each run to end.

``python -m tests.distributed.drive '["dag_a", "dag_b"]'`` in the deployment's
environment (its metadata DB). Each run is an ordinary manual run that the
scheduler hands to the executor, unlike ``airflow dags test``, which runs the
tasks itself. Waits until the dag-processor has serialised every DAG, then
prints one JSON line per run (:data:`RESULT` + ``{"dag_id", "run_id", "state",
"seconds"}``) and stops at the first run that did not succeed.
"""

from __future__ import annotations

import json
import sys
import time

RESULT = "credsync-drive: "
PARSE_TIMEOUT_S = 300
RUN_TIMEOUT_S = 1200


def main(argv: list[str] | None = None) -> int:
    dag_ids: list[str] = json.loads((argv if argv is not None else sys.argv[1:])[0])
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.models.dagrun import DagRun
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.sdk import timezone
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType

    deadline = time.monotonic() + PARSE_TIMEOUT_S
    while True:
        with create_session() as session:
            parsed = {row[0] for row in session.query(SerializedDagModel.dag_id).all()}
        if set(dag_ids) <= parsed:
            break
        if time.monotonic() > deadline:
            print(RESULT + json.dumps({"error": f"not parsed: {sorted(set(dag_ids) - parsed)}"}), flush=True)
            return 1
        time.sleep(2)

    for dag_id in dag_ids:
        start = time.monotonic()
        run_id = f"distributed__{dag_id}__{timezone.utcnow():%Y%m%dT%H%M%S}"
        trigger_dag(dag_id, run_id=run_id, logical_date=timezone.utcnow(), triggered_by=DagRunTriggeredByType.CLI)
        state = None
        while time.monotonic() - start < RUN_TIMEOUT_S:
            with create_session() as session:
                state = session.query(DagRun.state).filter(DagRun.dag_id == dag_id, DagRun.run_id == run_id).scalar()
            if state in (DagRunState.SUCCESS, DagRunState.FAILED):
                break
            time.sleep(1)
        seconds = round(time.monotonic() - start, 1)
        ended = {"dag_id": dag_id, "run_id": run_id, "state": getattr(state, "value", state), "seconds": seconds}
        print(RESULT + json.dumps(ended), flush=True)
        if state != DagRunState.SUCCESS:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
