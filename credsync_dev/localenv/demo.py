"""``make demo``: the whole pipeline end to end against the sandboxes, in-process.

Starts (or reuses) a Postgres, migrates the warehouse, starts the sandboxes,
initialises a local Airflow home and runs every pipeline DAG with
``airflow dags test`` in dependency order. Then a bad day
(:mod:`credsync_dev.localenv.bad_day`, skipped with ``--no-bad-day``): the
sandboxes misbehave, on-call resolves each failure, the pipeline runs clean
again. Prints a summary and writes ``build/demo/summary.json``. Safe to run
again: every DAG is idempotent.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from credsync.paths import BUILD_DIR
from credsync.warehouse import connect
from credsync_dev.localenv.bad_day import run_bad_day
from credsync_dev.localenv.pipeline import PIPELINE, DemoEnvironment, demo_environment
from credsync_dev.localenv.summary import (
    bad_day_summary,
    collect_summary,
    national_lrs_counts,
    national_lrs_sandbox,
    render_summary,
)

__all__ = ["DEMO_DIR", "main"]

DEMO_DIR = BUILD_DIR / "demo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dags", nargs="*", default=list(PIPELINE), help="DAG ids to run, in order")
    parser.add_argument("--no-bad-day", dest="bad_day", action="store_false",
                        help="only the clean run: skip the bad day (faults, on-call fixes) that follows it")
    args = parser.parse_args(argv)

    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)
    ok = True
    with demo_environment(BUILD_DIR, say=_say) as demo:
        # One Airflow process for the whole pipeline: each DAG exactly as `airflow dags test` runs it,
        # without paying Airflow's start-up once per DAG.
        results = [r.as_dict() for r in demo.run_dags(list(args.dags), log_name="pipeline")]
        ok = all(r["state"] == "success" for r in results) and len(results) == len(args.dags)
        summary = collect_summary(demo.warehouse_url, since=started, dag_results=results)
        summary["national_lrs_sandbox"] = _national_lrs_sandbox(demo)
        if ok and args.bad_day:
            with connect(demo.warehouse_url, autocommit=True) as conn:
                day = run_bad_day(demo, conn)
            summary["bad_day"] = bad_day_summary(demo.warehouse_url, day)
            summary["bad_day"]["national_lrs_after"] = national_lrs_counts(demo.warehouse_url, since=started)
            summary["bad_day"]["national_lrs_sandbox_after"] = _national_lrs_sandbox(demo)
            ok = summary["bad_day"]["ok"]
    (DEMO_DIR / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    print(render_summary(summary))
    print(f"\nmachine-readable summary: {DEMO_DIR / 'summary.json'}")
    return 0 if ok else 1


def _national_lrs_sandbox(demo: DemoEnvironment) -> dict[str, object]:
    """The national LRS sandbox's own listing (what it received and stores), beside credsync's ledger."""
    from sandbox.launcher import nelc_platforms

    return national_lrs_sandbox(demo.sandboxes.url("nelc"), nelc_platforms(t.tenant_id for t in demo.tenants))


def _say(message: str) -> None:
    print(message, flush=True)


if __name__ == "__main__":
    sys.exit(main())
