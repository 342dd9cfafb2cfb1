"""``make demo``: the whole pipeline end to end against the sandboxes, in-process.

Starts (or reuses) a Postgres, migrates the warehouse, starts the sandboxes,
initialises a local Airflow home and runs every pipeline DAG with
``airflow dags test`` in dependency order, then prints a summary and writes
``build/demo/summary.json``. Safe to run again: every DAG is idempotent.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from credsync.paths import BUILD_DIR
from credsync_dev.localenv.pipeline import PIPELINE, demo_environment
from credsync_dev.localenv.summary import collect_summary, render_summary

__all__ = ["DEMO_DIR", "main"]

DEMO_DIR = BUILD_DIR / "demo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dags", nargs="*", default=list(PIPELINE), help="DAG ids to run, in order")
    args = parser.parse_args(argv)

    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    results: list[dict[str, object]] = []
    with demo_environment(BUILD_DIR, say=_say) as demo:
        for dag_id in args.dags:
            results.append(demo.run_dag(dag_id).as_dict())
            if results[-1]["state"] != "success":
                break
        summary = collect_summary(demo.warehouse_url, since=started, dag_results=results)
    (DEMO_DIR / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(render_summary(summary))
    print(f"\nmachine-readable summary: {DEMO_DIR / 'summary.json'}")
    return 0 if all(r["state"] == "success" for r in results) and len(results) == len(args.dags) else 1


def _say(message: str) -> None:
    print(message, flush=True)


if __name__ == "__main__":
    sys.exit(main())
