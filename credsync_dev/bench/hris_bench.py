"""HRIS delta export benchmark: a full export and a delta through extract → stage → GX gate → merge.

Starts the HRIS sandbox seeded with ``--workers`` synthetic workers (``SANDBOX_SEED``,
as ``make demo`` does), creates and migrates a throwaway warehouse database and runs
the steps the DAG ``hris_delta_export`` runs (:mod:`credsync.people.flow`), over real
HTTP through :class:`~credsync.hooks.hris.HrisHook`:

1. a FULL export of every worker (all inserts);
2. a DELTA of ``--delta`` changes to existing workers (email changes, transfers,
   terminations, ... from :mod:`sandbox.synth.changes`), written to the sandbox first.

For each it prints wall time and rows/s per stage, and a raw Postgres ``COPY`` of the
same staged rows (same columns, into a plain table of the same shape, measured in
the same run) as the baseline; ``x raw COPY`` is a stage's time over the baseline's.
Extraction and staging run interleaved in one pass (records stream from the HTTP
pages into ``COPY``), so ``extract`` is the time spent waiting for records and
``stage`` the rest. Seeding the sandbox and writing the delta into it are setup,
reported apart from the pipeline.

    python -m credsync_dev.bench.hris_bench                        # 100,000 workers, 5,000-row delta
    python -m credsync_dev.bench.hris_bench --workers 300 --delta 50
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from credsync_dev.bench.memory import peak_rss_mib, process_peak_rss_mib

TENANT = "acme"
SEED = 7
# The baseline table lives in public: it is not part of the warehouse schema.
BASELINE_TABLE = "public.bench_raw_copy"
CREATE_BASELINE_SQL = f"CREATE TABLE {BASELINE_TABLE} (LIKE staging.hris_workers)"
DROP_BASELINE_SQL = f"DROP TABLE {BASELINE_TABLE}"
COUNT_CHANGES_SQL = "SELECT change_kind, count(*) FROM core.worker_changes WHERE batch_id = %s GROUP BY 1"
COUNT_WORKERS_SQL = "SELECT count(*) FROM core.workers WHERE tenant_id = %s"


@dataclass(frozen=True)
class Phase:
    """One measured step: rows it handled, wall time, and the bench process's peak RSS after it."""

    name: str
    rows: int
    seconds: float
    peak_rss_mib: float
    baseline_seconds: float | None = None  # the raw COPY of the same rows, for the ratio

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def vs_raw_copy(self) -> float | None:
        return self.seconds / self.baseline_seconds if self.baseline_seconds else None


@dataclass
class BenchReport:
    workers: int
    delta: int
    database: str
    phases: list[Phase] = field(default_factory=list)
    full: dict[str, Any] = field(default_factory=dict)
    delta_result: dict[str, Any] = field(default_factory=dict)
    core_workers: int = 0
    delta_changes: dict[str, int] = field(default_factory=dict)
    delta_kinds: dict[str, int] = field(default_factory=dict)
    hris_peak_rss_mib: float | None = None
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    database_dropped: bool = False

    def checks(self) -> dict[str, bool]:
        """The outcomes a user would verify: every input row merged, nothing lost or quarantined."""
        return {
            f"full: inserted {self.full.get('inserted')} = {self.workers} workers":
                self.full.get("inserted") == self.workers and self.full.get("quarantined") == 0,
            f"core.workers {self.core_workers} = {self.workers}": self.core_workers == self.workers,
            f"delta: updated {self.delta_result.get('updated')} = {self.delta} changes, inserted 0":
                self.delta_result.get("updated") == self.delta and self.delta_result.get("inserted") == 0
                and self.delta_result.get("quarantined") == 0,
            f"delta: worker_changes {sum(self.delta_changes.values())} = {self.delta}":
                self.delta_changes == {"update": self.delta},
            f"database {self.database} dropped": self.database_dropped,
        }


class TimedExport:
    """Wraps one export and sums the time spent waiting for its records (HTTP round trips + JSON)."""

    def __init__(self, export: Any) -> None:
        self.export = export
        self.seconds = 0.0
        self.records = 0

    @property
    def as_of(self) -> str | None:
        return self.export.as_of

    def __iter__(self) -> Iterator[dict[str, Any]]:
        records = iter(self.export)
        while True:
            start = time.perf_counter()
            record = next(records, None)
            self.seconds += time.perf_counter() - start
            if record is None:
                return
            self.records += 1
            yield record






def delta_workers(tenant_id: str, workers: int, seed: int, size: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """``size`` changed versions of existing workers (no hires), from consecutive synthetic days.

    Days 1..50 touch disjoint workers, so every change is to a different worker
    and the delta has exactly ``size`` rows.
    """
    from sandbox.synth.changes import STRIPES, iter_changes

    changed: list[dict[str, Any]] = []
    kinds: dict[str, int] = {}
    for day in range(1, STRIPES + 1):
        for change in iter_changes(tenant_id, workers, seed, day):
            if change["kind"] == "hire":
                continue
            changed.append(change["worker"])
            kinds[change["kind"]] = kinds.get(change["kind"], 0) + 1
            if len(changed) == size:
                return changed, kinds
    raise ValueError(f"--delta {size}: the {workers}-worker workforce only has {len(changed)} changes to give")


def put_workers(admin_url: str, tenant_id: str, changed: list[dict[str, Any]]) -> None:
    """Write the changes into the sandbox one PUT each (the HRIS restamps ``updated_at``)."""
    import requests

    with requests.Session() as session:
        for worker in changed:
            body = {k: v for k, v in worker.items() if k != "updated_at"}
            response = session.put(f"{admin_url}/tenants/{tenant_id}/workers/{worker['employee_id']}",
                                   json=body, timeout=30)
            response.raise_for_status()


def raw_copy_seconds(warehouse_url: str, batch_id: str) -> tuple[int, float]:
    """COPY the batch's staged rows, as text, into a plain table of the same shape; ``(rows, seconds)``.

    The rows are read out before the clock starts, so only Postgres ingesting a
    COPY stream (and the commit) is timed: what staging would cost with no HTTP,
    no mapping and no per-row Python.
    """
    from credsync.people.staging import STAGED_COLUMNS
    from credsync.warehouse import connect

    columns = ", ".join(STAGED_COLUMNS)
    with connect(warehouse_url) as conn:
        conn.execute(CREATE_BASELINE_SQL)
        conn.commit()
        blocks: list[bytes] = []
        with conn.cursor() as cur, cur.copy(
            f"COPY (SELECT {columns} FROM staging.hris_workers WHERE batch_id = %s ORDER BY row_number) TO STDOUT",
            (batch_id,),
        ) as copy:
            blocks.extend(bytes(block) for block in copy)
        rows = sum(block.count(b"\n") for block in blocks)
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY {BASELINE_TABLE} ({columns}) FROM STDIN") as copy:
            for block in blocks:
                copy.write(block)
        conn.commit()
        seconds = time.perf_counter() - start
        conn.execute(DROP_BASELINE_SQL)
        conn.commit()
    return rows, seconds


def export_and_merge(
    warehouse_url: str, label: str, open_export: Callable[[str | None], Any], *, full: bool
) -> tuple[dict[str, Any], list[Phase]]:
    """One DAG run for the tenant: extract_and_stage → gate → merge, timed per step."""
    from credsync.people import flow

    exports: list[TimedExport] = []

    def timed_open(since: str | None) -> TimedExport:
        exports.append(TimedExport(open_export(since)))
        return exports[-1]

    start = time.perf_counter()
    staged = flow.extract_and_stage(warehouse_url, tenant_id=TENANT, open_export=timed_open, full=full)
    staged_at = time.perf_counter()
    rss_staged = peak_rss_mib()
    gated = flow.gate(warehouse_url, staged)
    gated_at = time.perf_counter()
    rss_gated = peak_rss_mib()
    merged = flow.merge(warehouse_url, gated)
    merged_at = time.perf_counter()
    rss_merged = peak_rss_mib()
    if not staged.get("batch_id"):
        raise RuntimeError(f"{label}: the HRIS export was empty; nothing to measure")
    rows, baseline = raw_copy_seconds(warehouse_url, staged["batch_id"])
    extract = exports[0].seconds
    stage = staged_at - start - extract
    steps = stage + (gated_at - staged_at) + (merged_at - gated_at)
    records = staged["records_in"]
    return merged, [
        Phase(f"{label} extract (HTTP)", records, extract, rss_staged, baseline),
        Phase(f"{label} stage (map + COPY)", staged["loaded"], stage, rss_staged, baseline),
        Phase(f"{label} gate (GX)", staged["loaded"], gated_at - staged_at, rss_gated, baseline),
        Phase(f"{label} merge", staged["loaded"], merged_at - gated_at, rss_merged, baseline),
        Phase(f"{label} stage+gate+merge", staged["loaded"], steps, rss_merged, baseline),
        Phase(f"{label} extract..merge", records, merged_at - start, rss_merged, baseline),
        Phase(f"{label} raw COPY baseline", rows, baseline, peak_rss_mib(), baseline),
    ]


@contextlib.contextmanager
def hris_connection(base_url: str, token: str) -> Iterator[str]:
    """An Airflow connection for the tenant's HRIS as an env var (what HrisHook reads), removed after."""
    name = f"AIRFLOW_CONN_HRIS_{TENANT.upper()}"
    previous = os.environ.get(name)
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    os.environ[name] = json.dumps({"conn_type": "http", "host": host, "port": int(port), "schema": "http",
                                   "password": token})
    try:
        yield f"hris_{TENANT}"
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def run(workers: int, delta: int, *, start_timeout: float) -> BenchReport:
    from credsync.hooks.hris import HrisHook
    from credsync.warehouse import connect, migrate
    from credsync_dev.localenv.postgres import ensure_server
    from sandbox.launcher import generate_secrets, start_all

    # Build the delta first: a --delta larger than the workforce can give fails before any setup.
    changed, kinds = delta_workers(TENANT, workers, SEED, delta)
    env = generate_secrets([TENANT])
    env["SANDBOX_SEED"] = json.dumps({"tenants": {TENANT: {"workers": workers, "seed": SEED}}})
    server = ensure_server()
    db = server.temporary_database_name("credsync_bench")
    report = BenchReport(workers, delta, db, delta_kinds=kinds, load_before=os.getloadavg())
    url = server.create_database(db)
    try:
        migrate(url)
        # Every Airflow task process pays this import; time it once so the gate figure is the validation.
        start = time.perf_counter()
        import great_expectations  # noqa: F401
        report.phases.append(Phase("import great_expectations", 0, time.perf_counter() - start, peak_rss_mib()))
        with tempfile.TemporaryDirectory() as data_dir:
            start = time.perf_counter()
            sandboxes = start_all(Path(data_dir), env=env, names=["hris"], timeout=start_timeout)
            with sandboxes:
                report.phases.append(Phase("setup: HRIS start + seed", workers, time.perf_counter() - start,
                                           peak_rss_mib()))
                token = json.loads(env["SANDBOX_HRIS_TOKENS"])[TENANT]
                with hris_connection(sandboxes.url("hris"), token) as conn_id:
                    hook = HrisHook(conn_id, TENANT)
                    report.full, phases = export_and_merge(url, "full", hook.export, full=True)
                    report.phases.extend(phases)
                    start = time.perf_counter()
                    put_workers(sandboxes.admin("hris"), TENANT, changed)
                    report.phases.append(Phase("setup: delta PUTs to HRIS", delta, time.perf_counter() - start,
                                               peak_rss_mib()))
                    report.delta_result, phases = export_and_merge(url, "delta", hook.export, full=False)
                    report.phases.extend(phases)
                report.hris_peak_rss_mib = process_peak_rss_mib(sandboxes.pids["hris"])
        with connect(url) as conn:
            report.core_workers = conn.execute(COUNT_WORKERS_SQL, (TENANT,)).fetchone()[0]
            report.delta_changes = dict(conn.execute(COUNT_CHANGES_SQL, (report.delta_result["batch_id"],)).fetchall())
    finally:
        server.drop_database(db)
    with connect(server.url) as conn:
        report.database_dropped = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone() is None
    report.load_after = os.getloadavg()
    return report


def render(report: BenchReport) -> str:
    lines = [
        f"HRIS bench: tenant {TENANT}, {report.workers} workers, {report.delta}-row delta "
        f"({', '.join(f'{k} {n}' for k, n in sorted(report.delta_kinds.items()))}); database {report.database}",
        f"{'phase':<28} {'rows':>8} {'wall_s':>8} {'rows_per_s':>11} {'x_raw_copy':>10} {'peak_rss_mib':>12}",
    ]
    for phase in report.phases:
        ratio = f"{phase.vs_raw_copy:.1f}" if phase.vs_raw_copy is not None else "-"
        lines.append(f"{phase.name:<28} {phase.rows:>8} {phase.seconds:>8.3f} {phase.rows_per_s:>11.0f} "
                     f"{ratio:>10} {phase.peak_rss_mib:>12.1f}")
    hris_rss = f"{report.hris_peak_rss_mib:.1f}" if report.hris_peak_rss_mib is not None else "n/a"
    lines += [
        f"peak RSS: bench process {peak_rss_mib():.1f} MiB, HRIS sandbox {hris_rss} MiB",
        "load average before: {:.2f} {:.2f} {:.2f}; after: {:.2f} {:.2f} {:.2f}".format(
            *report.load_before, *report.load_after),
    ]
    lines += [f"check: {name}: {'ok' if ok else 'FAILED'}" for name, ok in report.checks().items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credsync_dev.bench.hris_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=100_000, help="workers seeded into the HRIS (full export)")
    parser.add_argument("--delta", type=int, default=5_000, help="changed existing workers in the delta export")
    # Seeding runs before the sandbox answers /health: allow for it (~2,500 workers/s on 2 busy cores).
    parser.add_argument("--start-timeout", type=float, default=None,
                        help="seconds to wait for the seeded HRIS sandbox (default scales with --workers)")
    args = parser.parse_args(argv)
    # GX logs at INFO per expectation and per metric, alembic per migration; the figures are what matters.
    for noisy in ("great_expectations", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.workers < 1 or args.delta < 1:
        parser.error("--workers and --delta must be positive")
    timeout = args.start_timeout or 30 + args.workers / 1000
    report = run(args.workers, args.delta, start_timeout=timeout)
    print(render(report), flush=True)
    return 0 if all(report.checks().values()) else 1


if __name__ == "__main__" and __spec__ is not None and __spec__.name == "credsync_dev.bench.hris_bench":
    sys.exit(main())
