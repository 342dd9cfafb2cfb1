"""Completion events benchmark: N events/s for T seconds through a real local Airflow, beside the pull.

Starts the demo environment (warehouse, sandboxes) with ``--workers`` acme workers, loads them with
``hris_delta_export``, then a real Airflow on this machine (api-server with the credsync plugins,
scheduler, dag-processor, triggerer; LocalExecutor; tests/realairflow/local.py) with the
``completion_events`` DAG unpaused. Then:

1. **event path**: ``--rate`` completions per second for ``--seconds`` seconds, each recorded in
   the LMS sandbox and sent as a signed webhook to the api-server's receiver
   (``sandbox.lms_events``, with ``--duplicate-rate`` duplicates); the AssetWatcher on Redis wakes
   ``completion_events`` runs. Waits until every completion has its HRIS write-back.
2. **scheduled-pull path** (the baseline, same run): ``--pull-completions`` completions recorded in the
   LMS only; ``lms_completion_pull`` is triggered at once (best case: the hourly schedule adds up to
   60 min, 30 on average) and the asset chain credential_issuance → registry_push → hris_writeback runs.

The LMS sandbox starts without learning history, so both paths carry only the benchmark's own
completions. Prints p50/p95 completion → credential → registry ack → HRIS write-back per path
(``core.credential_latency``), the ratio event/pull, and the counts checked against the LMS export,
the registry listing and the warehouse (nothing lost, nothing duplicated).

    python -m credsync_dev.bench.events_bench --rate 50 --seconds 120 --workers 6100
    python -m credsync_dev.bench.events_bench --rate 5 --seconds 60 --workers 400   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TENANT = "acme"
SECRET = "whsec-events-bench"  # noqa: S105 - a throwaway secret of the benchmark's own sandboxes


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_s": None, "p95_s": None, "n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_s": round(statistics.median(ordered), 1), "p95_s": round(p95, 1), "n": len(ordered)}


def latency(warehouse_url: str, employees: list[str]) -> dict[str, Any]:
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        rows = conn.execute(
            "SELECT path, date_part('epoch', credential_at - completed_at),"
            " date_part('epoch', registry_ack_at - completed_at), date_part('epoch', hris_writeback_at - completed_at)"
            " FROM core.credential_latency WHERE tenant_id = %s AND employee_id = ANY(%s)"
            " AND credential_type = 'cpr_aed'", (TENANT, employees)).fetchall()
    paths = Counter(row[0] for row in rows)
    return {"paths": dict(paths),
            "credential": percentiles([r[1] for r in rows if r[1] is not None]),
            "registry_ack": percentiles([r[2] for r in rows if r[2] is not None]),
            "hris_writeback": percentiles([r[3] for r in rows if r[3] is not None])}


def wait_delivered(warehouse_url: str, employees: list[str], timeout: float, say: Any) -> float:
    from credsync.warehouse import connect

    started = time.monotonic()
    last = -1
    while True:
        with connect(warehouse_url) as conn:
            done = conn.execute(
                "SELECT count(*) FROM core.credential_latency WHERE tenant_id = %s AND employee_id = ANY(%s)"
                " AND credential_type = 'cpr_aed' AND hris_writeback_at IS NOT NULL AND registry_ack_at IS NOT NULL",
                (TENANT, employees)).fetchone()[0]
        if done != last:
            say(f"  delivered {done} of {len(employees)} after {time.monotonic() - started:.0f}s")
            last = done
        if done >= len(employees):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            return float("nan")
        time.sleep(2)


def counts(demo: Any, warehouse_url: str, enrollments: set[str], employees: list[str]) -> dict[str, Any]:
    """Counts against the LMS export, the registry listing and the warehouse."""
    import httpx

    from credsync.warehouse import connect

    lms = httpx.Client(base_url=demo.sandboxes.url("lrs"), timeout=30, headers={
        "Authorization": f"Bearer {json.loads(demo.secrets['SANDBOX_LMS_TOKENS'])[TENANT]}"})
    listed, token = [], None
    while True:
        page = lms.get(f"/{TENANT}/lms/api/v1/completions",
                       params={"page_size": 1000, **({"page_token": token} if token else {})}).json()
        listed += [i["enrollment_id"] for i in page["items"] if i["enrollment_id"] in enrollments]
        token = page.get("next_page_token")
        if not token:
            break
    from credsync.hooks.registry import RegistryClient

    client_id, entry = next(iter(json.loads(demo.secrets["SANDBOX_REGISTRY_CLIENTS"]).items()))
    rows = list(RegistryClient.for_url(demo.sandboxes.url("registry"), client_id, entry["secret"])
                .list_certificates(TENANT))
    wanted = set(employees)
    keys = Counter((c["learner_id"], c["credential_type"]) for c in rows
                   if c.get("learner_id") in wanted and c.get("credential_type") == "cpr_aed")
    with connect(warehouse_url) as conn:
        completions = conn.execute("SELECT count(*) FROM core.completions WHERE tenant_id = %s AND source = 'lms_rest'"
                                   " AND source_id = ANY(%s)", (TENANT, list(enrollments))).fetchone()[0]
        credentials = conn.execute("SELECT count(*) FROM core.credentials WHERE tenant_id = %s"
                                   " AND employee_id = ANY(%s) AND credential_type = 'cpr_aed'",
                                   (TENANT, employees)).fetchone()[0]
        events = dict(conn.execute("SELECT coalesce(outcome, status), count(*) FROM audit.lms_completion_events"
                                   " WHERE tenant_id = %s AND enrollment_id = ANY(%s) GROUP BY 1",
                                   (TENANT, list(enrollments))).fetchall())
    return {"sent": len(enrollments), "lms_listing": len(listed), "completions": completions,
            "credentials": credentials, "registry_certificates": sum(keys.values()),
            "registry_duplicates": sum(n - 1 for n in keys.values() if n > 1), "events": events}


def send_burst(receiver_url: str, lms_url: str, employees: list[str], rate: float, duplicate_rate: float,
               say: Any) -> tuple[set[str], Counter]:
    from sandbox.lms_events import EventFaults, LmsEventSender, completion_item

    local = threading.local()

    def sender() -> LmsEventSender:
        if not hasattr(local, "sender"):
            local.sender = LmsEventSender(lms_url, receiver_url, TENANT, SECRET,
                                          EventFaults(duplicate_rate=duplicate_rate, seed=threading.get_ident()))
            senders.append(local.sender)
        return local.sender

    senders: list[LmsEventSender] = []
    enrollments: set[str] = set()
    started = time.monotonic()

    def one(index: int, employee: str) -> None:
        delay = started + index / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        item = completion_item(employee, enrollment_id=f"enr-bench-{employee}")
        enrollments.add(item["enrollment_id"])
        sender().emit([item])

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, range(len(employees)), employees))
    took = time.monotonic() - started
    say(f"  sent {len(employees)} events in {took:.1f}s ({len(employees) / took:.1f}/s)")
    statuses = Counter(d.status for s in senders for d in s.deliveries)
    for s in senders:
        s.close()
    return enrollments, statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--workers", type=int, default=None, help="acme workers (default: events + pull + 50)")
    parser.add_argument("--pull-completions", type=int, default=200)
    parser.add_argument("--duplicate-rate", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for each path's deliveries")
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args(argv)
    events = int(args.rate * args.seconds)
    # ~7 % of the synthetic workforce is not active: ask for enough that every event has its learner.
    workers = args.workers or int((events + args.pull_completions) * 1.12) + 50
    if workers < events + args.pull_completions:
        parser.error("--workers must cover one event per worker plus the pull completions")

    def say(message: str) -> None:
        print(message, flush=True)

    result: dict[str, Any] = {"rate": args.rate, "seconds": args.seconds, "events": events,
                              "pull_completions": args.pull_completions, "cpus": os.cpu_count()}
    with events_environment(workers, say=say) as (demo, airflow):
        result |= run_paths(demo, airflow, args, events, say)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


@contextmanager
def events_environment(workers: int, *, say: Any = print,
                       extra_airflow_env: dict[str, str] | None = None) -> Iterator[tuple[Any, Any]]:
    """The demo environment with ``workers`` acme workers loaded, and a real local Airflow (plus a
    triggerer) serving the receiver, with ``completion_events`` unpaused and its watcher running."""
    from urllib.parse import urlsplit

    from credsync.tenants import load_tenants
    from credsync_dev.localenv.pipeline import demo_environment
    from credsync_dev.localenv.postgres import ensure_server
    from tests.distributed.cluster import _start, redis_broker
    from tests.realairflow.local import airflow_settings, free_port, local_airflow

    with tempfile.TemporaryDirectory(prefix="credsync-events-") as tmp, contextlib.ExitStack() as stack:
        build = Path(tmp)
        home = build / "airflow"
        server = ensure_server(build / "pgdata")
        metadata_db = server.temporary_database_name("credsync_events_airflow")
        metadata_url = server.create_database(metadata_db)
        saved = dict(os.environ)
        try:
            os.environ.pop("AIRFLOW__CORE__UNIT_TEST_MODE", None)
            os.environ.update(airflow_settings(home, metadata_url, free_port()))
            os.environ["CREDSYNC_BUILD_DIR"] = str(build)
            workforce = {"acme": {"workers": workers, "seed": 7}, "globex": {"workers": 2, "seed": 11}}
            with demo_environment(build, workforce=workforce, temporary_database=True, say=say) as demo:
                loaded = demo.run_dag("hris_delta_export")
                if not loaded.succeeded:
                    raise RuntimeError(f"hris_delta_export failed: see {loaded.log}")
                # No learning history: both paths then carry only the benchmark's completions (the
                # pull's first load of four synthetic years would otherwise be what it measures).
                import httpx

                httpx.post(f"{demo.sandboxes.url('lrs')}/admin/reset", timeout=60).raise_for_status()
                env = dict(demo.env)
                tenant = next(t for t in load_tenants() if t.tenant_id == TENANT)
                lms_conn = f"AIRFLOW_CONN_{tenant.conn_id('lms').upper()}"
                conn = json.loads(env[lms_conn])
                env[lms_conn] = json.dumps({**conn, "extra": {**(conn.get("extra") or {}), "webhook_secret": SECRET}})
                # A redis-server of the run's own (the machine's 6379 only when none is installed).
                redis_url = urlsplit(stack.enter_context(redis_broker(build / "redis")))
                env["AIRFLOW_CONN_CREDSYNC_REDIS"] = json.dumps({"conn_type": "redis", "host": redis_url.hostname,
                                                                 "port": redis_url.port, "extra": {"db": 0}})
                env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "True"  # asset-triggered runs on
                env.update(extra_airflow_env or {})
                with local_airflow(home, env, migrate=False) as airflow:
                    airflow.components["triggerer"] = _start(
                        "triggerer", [sys.executable, "-m", "airflow", "triggerer"], airflow.env,
                        home / "component-logs")
                    unpause_when_parsed(airflow, "completion_events")
                    time.sleep(20)  # the triggerer picks the watcher up on its next refresh
                    yield demo, airflow
        finally:
            os.environ.clear()
            os.environ.update(saved)
            # An embedded server lives in ``build`` and the demo environment has stopped it by now
            # (it shares the data dir); its databases go with the directory.
            if not server.embedded:
                server.drop_database(metadata_db)


def unpause_when_parsed(airflow: Any, dag_id: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while airflow.api("GET", f"/api/v2/dags/{dag_id}").status_code != 200:  # not parsed yet
        if time.monotonic() > deadline:
            raise RuntimeError(f"{dag_id} never appeared in the api-server")
        time.sleep(3)
    airflow.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()


def run_paths(demo: Any, airflow: Any, args: argparse.Namespace, events: int, say: Any) -> dict[str, Any]:
    from sandbox.lms_events import LmsEventSender, completion_item

    warehouse = demo.warehouse_url
    employees = [f"{w}" for w in acme_workers(warehouse)]
    # The pull's share first: a workforce with fewer free workers than asked shortens the burst, not the baseline.
    pulled, burst = employees[:args.pull_completions], employees[args.pull_completions:args.pull_completions + events]
    receiver = f"{airflow.url}/credsync-events/lms/{TENANT}/completions"

    say(f"event path: {args.rate}/s for {args.seconds}s")
    started = time.monotonic()
    enrollments, statuses = send_burst(receiver, demo.sandboxes.url("lrs"), burst, args.rate,
                                       args.duplicate_rate, say)
    drain = wait_delivered(warehouse, burst, args.timeout, say)
    event_path = {"answers": {str(k): v for k, v in statuses.items()}, "latency": latency(warehouse, burst),
                  "counts": counts(demo, warehouse, enrollments, burst),
                  "seconds_to_last_writeback_after_burst": round(drain, 1),
                  "runs": Counter(r["state"] for r in airflow.runs("completion_events")),
                  "wall_s": round(time.monotonic() - started, 1)}
    say(json.dumps(event_path))

    say(f"scheduled-pull path: {len(pulled)} completions in the LMS only, lms_completion_pull triggered at once")
    for dag_id in ("lms_completion_pull", "credential_issuance", "registry_push", "hris_writeback"):
        airflow.api("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
    sender = LmsEventSender(demo.sandboxes.url("lrs"), receiver, TENANT, SECRET)
    items = [completion_item(e, enrollment_id=f"enr-bench-{e}") for e in pulled]
    sender.record(items)
    sender.close()
    airflow.api("POST", "/api/v2/dags/lms_completion_pull/dagRuns", json={"logical_date": None}).raise_for_status()
    drain = wait_delivered(warehouse, pulled, args.timeout, say)
    pull_path = {"latency": latency(warehouse, pulled),
                 "counts": counts(demo, warehouse, {i["enrollment_id"] for i in items}, pulled),
                 "seconds_to_last_writeback": round(drain, 1)}
    say(json.dumps(pull_path))
    ratios = {}
    for stage in ("registry_ack", "hris_writeback"):
        e, p = event_path["latency"][stage]["p95_s"], pull_path["latency"][stage]["p95_s"]
        ratios[f"{stage}_p95_event_over_pull"] = round(e / p, 3) if e and p else None
    return {"event_path": event_path, "pull_path": pull_path, "ratios": ratios}


def acme_workers(warehouse_url: str) -> list[str]:
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT employee_id FROM core.workers WHERE tenant_id = %s AND employment_status = 'active'"
            " AND NOT EXISTS (SELECT 1 FROM core.credentials c WHERE c.tenant_id = core.workers.tenant_id"
            " AND c.employee_id = core.workers.employee_id) ORDER BY employee_id", (TENANT,))]


if __name__ == "__main__":
    sys.exit(main())
