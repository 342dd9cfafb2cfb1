"""Run several DAGs one after another in one process, each exactly as ``airflow dags test`` does.

``python -m credsync_dev.localenv.dag_batch '[{"dag_id": "...", "conf": {...}}, ...]'``

Every item goes through Airflow's own CLI code path (``dags test``), in order,
stopping at the first failed run. One process saves the Airflow start-up
(imports, DAG parsing, the in-process execution API) that each separate
``airflow dags test`` pays: about half a minute per DAG on a busy machine.
Before and after each run a marker line is printed (:data:`START`,
:data:`END` + JSON ``{"dag_id", "state", "seconds"}``) so the caller can cut
the output per DAG.
"""

from __future__ import annotations

import json
import sys
import time
import traceback

START = "credsync-dag-batch: start "
END = "credsync-dag-batch: end "


def main(argv: list[str] | None = None) -> int:
    items = json.loads((argv if argv is not None else sys.argv[1:])[0])
    from airflow.cli.cli_parser import get_parser

    parser = get_parser()
    for item in items:
        dag_id = item["dag_id"]
        command = ["dags", "test", dag_id]
        if item.get("conf"):
            command += ["--conf", json.dumps(item["conf"])]
        print(START + dag_id, flush=True)
        start = time.monotonic()
        state = "success"
        try:
            args = parser.parse_args(command)
            args.func(args)
        except SystemExit as exc:  # dags test exits non-zero when the run failed
            state = "success" if exc.code in (None, 0) else "failed"
        except Exception:  # reported like a failed run, with its traceback
            traceback.print_exc()
            state = "failed"
        sys.stdout.flush()
        sys.stderr.flush()
        seconds = round(time.monotonic() - start, 1)
        print(END + json.dumps({"dag_id": dag_id, "state": state, "seconds": seconds}), flush=True)
        if state != "success":
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
