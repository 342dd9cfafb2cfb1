"""Reconciliation benchmark: one large tenant end to end, next to the reladiff table-diff tool.

Seeds one tenant (``--workers`` workers with ``--types`` delivered credentials
each) into a throwaway warehouse database, fills a registry sandbox with every
certificate, makes a handful of rows disagree in the outside systems' listings
(LMS users flipped or edited, an orphan account; registry certificates lost,
revoked, one unknown; HRIS payroll flags lost, a certification expired), then
times, on the same data:

- credsync: the three snapshot loads side by side, each in its own process as
  the DAG's snapshot tasks run (LMS and HRIS listings from the synthetic
  generator; the registry listing over real HTTP from the sandbox through
  RegistryClient, or from the generator with ``--registry generator``), each
  COPYed into staging; then ``reconcile`` (every comparison, findings, fixes,
  metrics) in a fresh process, with the time per SQL file summed over its
  connections;
- reladiff (joindiff in the same database) on the pairs it can express as table
  diffs, over the same staged snapshots: workers vs LMS users, registry
  certificates, write-backs vs HRIS listing; the keys it reports must equal the
  keys of credsync's findings.

Each part runs in a fresh process; peak RSS is that process's VmHWM (getrusage's
ru_maxrss would include the parent's RSS at spawn). Postgres backend peaks are
the largest VmHWM of the backends each tool used, shared buffers touched included.
Seeding is not timed.

    python -m credsync_dev.bench.recon_bench                        # 1,000,000 workers, 2,000,000 credentials
    python -m credsync_dev.bench.recon_bench --workers 2000 --registry generator
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import multiprocessing
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from credsync_dev.bench.lrs_bench import TimedIterable
from credsync_dev.bench.memory import peak_rss_mib, process_peak_rss_mib

if TYPE_CHECKING:
    import psycopg

    from credsync.recon.snapshots import HrisWriteback, LmsUser, RegistryCertificate

TENANT = "bench"
AS_OF = datetime(2025, 6, 2, 6, 0, tzinfo=UTC)
RELADIFF_APP = "recon_bench_reladiff"
# The registry sandbox keeps its state here; the benchmark fills it directly (seeding is not timed).
REGISTRY_INSERT = (
    "INSERT INTO certificates (id, status, tenant_id, learner_id, learner_name, credential_type,"
    " credential_version, issued_on, expires_on, issuer, evidence_url, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
# reladiff's setup (timed with it): for each pair, a view over core (what we hold or delivered) and one
# over the staged listing, with the same key and compared columns. Keys stay plain indexed base columns
# so reladiff's key-range segments are index range scans.
RELADIFF_SETUP = (
    "CREATE SCHEMA bench",
    # HRIS <-> LMS: the account each worker should have (active while in an LMS status) vs the listing.
    "CREATE VIEW bench.lms_expected AS SELECT w.employee_id, w.employment_status = ANY({lms_statuses}) AS active,"
    " lower(w.work_email) AS email, w.department, w.manager_id AS manager"
    " FROM core.workers w WHERE w.tenant_id = {tenant}",
    "CREATE VIEW bench.lms_listed AS SELECT s.external_id AS employee_id, s.active,"
    " s.email_normalized AS email, s.department, s.manager_value AS manager"
    " FROM staging.lms_learners_snapshot s WHERE s.snapshot_id = {lms_snapshot}",
    # credentials <-> registry: each credential's certificate (by the registry id delivery recorded)
    # and the status the registry should show, vs the registry's listing.
    "CREATE VIEW bench.registry_expected AS SELECT s.registry_id,"
    " CASE WHEN k.status = 'active' THEN 'active' ELSE 'revoked' END AS status"
    " FROM core.credentials k JOIN core.registry_submissions s"
    " ON s.credential_id = k.credential_id AND s.version = k.version AND s.operation = 'issue'"
    " WHERE k.tenant_id = {tenant} AND s.registry_id IS NOT NULL",
    "CREATE VIEW bench.registry_listed AS SELECT r.registry_id, r.status"
    " FROM staging.registry_snapshot r WHERE r.snapshot_id = {registry_snapshot}",
    # The warehouse never looks submissions up by registry id, nor snapshots up by their records' keys;
    # reladiff's key-range segments need an index on each key.
    "CREATE INDEX bench_registry_submissions_registry_id ON core.registry_submissions (registry_id)",
    "CREATE INDEX bench_lms_snapshot_key ON staging.lms_learners_snapshot (snapshot_id, external_id)",
    "CREATE INDEX bench_registry_snapshot_key ON staging.registry_snapshot (snapshot_id, registry_id)",
    "CREATE INDEX bench_hris_snapshot_key ON staging.hris_writeback_snapshot"
    " (snapshot_id, target, employee_id, credential_type)",
    # credentials <-> HRIS/payroll: the write-backs we record (what each HRIS row should say) vs the listing.
    "CREATE VIEW bench.hris_expected AS SELECT b.target, b.employee_id, b.credential_type,"
    " CASE WHEN b.target = 'payroll_flag' THEN (b.status = 'flag_on')::text ELSE b.status END AS state"
    " FROM core.writebacks b WHERE b.tenant_id = {tenant}",
    "CREATE VIEW bench.hris_listed AS SELECT h.target, h.employee_id, h.credential_type,"
    " CASE WHEN h.target = 'payroll_flag' THEN h.active::text ELSE h.status END AS state"
    " FROM staging.hris_writeback_snapshot h WHERE h.snapshot_id = {hris_snapshot}",
)
# pair -> (expected view, listed view, key columns, compared columns)
RELADIFF_PAIRS = {
    "hris_lms": ("bench.lms_expected", "bench.lms_listed", ("employee_id",),
                 ("active", "email", "department", "manager")),
    "credentials_registry": ("bench.registry_expected", "bench.registry_listed", ("registry_id",), ("status",)),
    "credentials_hris": ("bench.hris_expected", "bench.hris_listed",
                         ("target", "employee_id", "credential_type"), ("state",)),
}
# The keys credsync's open findings point at, in each pair's reladiff key (to check one tool against the other).
FINDING_KEYS = {
    "hris_lms": "SELECT DISTINCT f.employee_id FROM recon.findings f"
                " WHERE f.tenant_id = %(tenant)s AND f.comparison = 'hris_lms' AND f.resolved_at IS NULL",
    "credentials_registry":
        "SELECT DISTINCT coalesce(s.registry_id, substr(f.entity_key, length('registry:') + 1))"
        " FROM recon.findings f LEFT JOIN core.registry_submissions s"
        " ON s.credential_id = f.credential_id AND s.operation = 'issue'"
        " WHERE f.tenant_id = %(tenant)s AND f.comparison = 'credentials_registry' AND f.resolved_at IS NULL",
    "credentials_hris": "SELECT DISTINCT split_part(f.entity_key, ':', 1), split_part(f.entity_key, ':', 2),"
                        " split_part(f.entity_key, ':', 3) FROM recon.findings f"
                        " WHERE f.tenant_id = %(tenant)s AND f.comparison = 'credentials_hris'"
                        " AND f.resolved_at IS NULL",
}


@dataclass(frozen=True)
class Drift:
    """The rows the benchmark makes disagree, chosen spread over the tenant's workers."""

    lms_inactive: tuple[str, ...]
    lms_email: tuple[str, ...]
    lms_orphan: str  # an LMS account whose externalId names no worker
    registry_dropped: tuple[str, ...]  # registry ids the registry has lost
    registry_revoked: tuple[str, ...]  # registry ids the registry shows revoked
    registry_unknown: str  # a certificate for a learner we do not know
    hris_flag_dropped: tuple[str, ...]  # employees whose CERT-1 payroll flag the HRIS lost
    hris_profile_expired: tuple[str, ...]  # employees whose CERT-1 HRIS certification is 'expired'

    def expected(self) -> dict[str, int]:
        """Differing keys the seeded drift must produce, per comparison."""
        return {
            "hris_lms": len(self.lms_inactive) + len(self.lms_email) + 1,
            "credentials_registry": len(self.registry_dropped) + len(self.registry_revoked) + 1,
            "credentials_hris": len(self.hris_flag_dropped) + len(self.hris_profile_expired),
        }


def employee(n: int) -> str:
    """The synthetic tenant's employee id of worker ``n`` (include/sql/recon/synthetic/tenant.sql)."""
    return f"E{n:08d}"


def choose_drift(conn: psycopg.Connection, workers: int) -> Drift:
    """Spread a handful of drifted rows over the tenant, each kind on different workers."""
    picks = [employee(1 + (workers - 1) * i // 12) for i in range(13)]
    registry = dict(conn.execute(
        "SELECT k.employee_id, s.registry_id FROM core.credentials k JOIN core.registry_submissions s"
        " USING (credential_id) WHERE k.tenant_id = %s AND k.credential_type = 'CERT-1'"
        " AND k.employee_id = ANY(%s)", (TENANT, picks)).fetchall())
    return Drift(
        lms_inactive=tuple(picks[0:3]), lms_email=tuple(picks[3:5]), lms_orphan="X00000001",
        registry_dropped=tuple(registry[e] for e in picks[5:8]),
        registry_revoked=tuple(registry[e] for e in picks[8:10]),
        registry_unknown="REG-00000000-0000-4000-8000-000000000001",
        hris_flag_dropped=tuple(picks[10:12]), hris_profile_expired=tuple(picks[12:13]),
    )


def drifted_lms(users: Iterable[LmsUser], drift: Drift) -> Iterator[LmsUser]:
    from credsync.recon.snapshots import LmsUser

    inactive, email = set(drift.lms_inactive), set(drift.lms_email)
    for user in users:
        if user.external_id in inactive:
            user = user._replace(active=False)
        elif user.external_id in email:
            user = user._replace(email="changed." + (user.email or ""))
        yield user
    yield LmsUser("S" + drift.lms_orphan, drift.lms_orphan, "orphan@bench.example", True,
                  "orphan@bench.example", "D0", None)


def drifted_registry(certificates: Iterable[RegistryCertificate], drift: Drift) -> Iterator[RegistryCertificate]:
    from credsync.recon.snapshots import RegistryCertificate

    dropped, revoked = set(drift.registry_dropped), set(drift.registry_revoked)
    for certificate in certificates:
        if certificate.registry_id in dropped:
            continue
        if certificate.registry_id in revoked:
            certificate = certificate._replace(status="revoked")
        yield certificate
    yield RegistryCertificate(drift.registry_unknown, "X00000002", "CERT-1", "2025-01-01.v1", "active",
                              date(2025, 1, 1), date(2026, 1, 1), AS_OF)


def drifted_hris(writebacks: Iterable[HrisWriteback], drift: Drift) -> Iterator[HrisWriteback]:
    dropped, expired = set(drift.hris_flag_dropped), set(drift.hris_profile_expired)
    for writeback in writebacks:
        if writeback.credential_type == "CERT-1":
            if writeback.target == "payroll_flag" and writeback.employee_id in dropped:
                continue
            if writeback.target == "hris_profile" and writeback.employee_id in expired:
                writeback = writeback._replace(status="expired")
        yield writeback


def seed_registry_sandbox(conn: psycopg.Connection, data_dir: Path, drift: Drift) -> int:
    """Fill the registry sandbox's store (``<data_dir>/registry.sqlite``) with the drifted listing."""
    from credsync_dev import synthetic
    from sandbox.registry.store import RegistryStore, format_timestamp

    path = data_dir / "registry.sqlite"
    RegistryStore(path).close()  # creates the schema exactly as the sandbox does
    count = 0

    def rows() -> Iterator[tuple]:
        nonlocal count
        for c in drifted_registry(synthetic.registry_certificates(conn, TENANT), drift):
            count += 1
            stamp = format_timestamp(c.updated_at or AS_OF)
            yield (c.registry_id, c.status, TENANT, c.learner_id, c.learner_id, c.credential_type,
                   c.credential_version, c.issued_on.isoformat() if c.issued_on else None,
                   c.expires_on.isoformat() if c.expires_on else None, "did:key:synthetic", None, stamp, stamp)

    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("BEGIN")
        db.executemany(REGISTRY_INSERT, rows())
        db.execute("COMMIT")
    finally:
        db.close()
    return count


@dataclass(frozen=True)
class RegistryAccess:
    """How the credsync process reaches the registry sandbox (picklable for the child process)."""

    base_url: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)


def _self_peak_mib() -> float:
    """This process's peak RSS: VmHWM, since in a spawned child getrusage's ru_maxrss
    carries over the parent's RSS at spawn time."""
    return round(process_peak_rss_mib(os.getpid()) or peak_rss_mib(), 1)


def _backends_peak_mib(peaks: Iterable[float | None]) -> float | None:
    """The largest VmHWM of some Postgres backends (shared buffers they touched included)."""
    known = [p for p in peaks if p is not None]
    return round(max(known), 1) if known else None


def _statement_names() -> dict[str, str]:
    """SQL text -> its file under include/sql/, to name what reconcile spends its time on."""
    from credsync.paths import SQL_DIR

    return {path.read_text(encoding="utf-8"): str(path.relative_to(SQL_DIR))
            for folder in ("recon", "credentials") for path in sorted((SQL_DIR / folder).rglob("*.sql"))}


def _comparison_of(statement: str) -> str:
    """Which comparison a reconcile statement (named by _timing_cursor) serves; 'runs' for the bookkeeping."""
    groups = {
        "hris_lms": ("recon/prepare_lms_users.sql", "CREATE INDEX ON recon_lms_users", "ANALYZE recon_lms_users",
                     "recon/compare/1", "recon/population/hris_lms"),
        "completions_credentials": ("credentials/", "recon/prepare_rules.sql", "recon/compare/2",
                                    "recon/population/completions_credentials"),
        "credentials_registry": ("recon/prepare_registry_", "ANALYZE recon_registry_match", "recon/compare/3",
                                 "recon/population/credentials_registry"),
        "credentials_hris": ("recon/compare/4", "recon/population/credentials_hris"),
    }
    return next((group for group, prefixes in groups.items() if statement.startswith(prefixes)), "runs")


def _timing_cursor(sink: dict[str, float], backend_peaks: dict[int, float]) -> type:
    """A cursor class adding each statement's time to ``sink`` under its SQL file name.

    reconcile runs its comparison groups on connections of its own, so each
    statement also records its backend's peak RSS (``backend_peaks``, MiB by pid)
    while that backend still exists.
    """
    import threading

    import psycopg

    names = _statement_names()
    lock = threading.Lock()

    class TimingCursor(psycopg.Cursor):
        def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
            mark = time.perf_counter()
            try:
                return super().execute(query, params, **kwargs)
            finally:
                text = query if isinstance(query, str) else repr(query)
                name = names.get(text) or " ".join(text.split())[:60]
                pid = self.connection.info.backend_pid
                peak = process_peak_rss_mib(pid)
                with lock:
                    sink[name] = sink.get(name, 0.0) + time.perf_counter() - mark
                    if peak is not None:
                        backend_peaks[pid] = max(peak, backend_peaks.get(pid, 0.0))

    return TimingCursor


def load_listing(url: str, source: str, registry: RegistryAccess | None, drift: Drift) -> dict[str, Any]:
    """One listing's snapshot load, in its own process, as the DAG's snapshot_<source> task does."""
    from credsync.recon import listings
    from credsync.recon.snapshots import load_hris_writebacks, load_lms_users, load_registry_certificates
    from credsync.warehouse import connect
    from credsync_dev import synthetic

    mark = time.monotonic()
    with connect(url, autocommit=True) as conn:
        if source == "lms":
            load, records = load_lms_users, drifted_lms(synthetic.lms_users(conn, TENANT), drift)
        elif source == "hris":
            load, records = load_hris_writebacks, drifted_hris(synthetic.hris_writebacks(conn, TENANT), drift)
        elif registry is None:
            load = load_registry_certificates
            records = drifted_registry(synthetic.registry_certificates(conn, TENANT), drift)
        else:
            from credsync.hooks.registry import RegistryClient

            client = RegistryClient.for_url(registry.base_url, registry.client_id, registry.client_secret)
            load, records = load_registry_certificates, listings.registry_certificates(client, TENANT)
        # Time spent waiting on the listing (HTTP pages or the generator), apart from COPYing it.
        listing = TimedIterable(records)
        snapshot_id = load(conn, TENANT, listing)
    return {"source": source, "snapshot_id": snapshot_id, "seconds": time.monotonic() - mark,
            "wait_s": listing.seconds, "peak_rss_mib": _self_peak_mib()}


def run_credsync(url: str, registry: RegistryAccess | None, drift: Drift, types: int) -> dict[str, Any]:
    """The timed credsync part: the three listings' loads at once (each in its own fresh process,
    as the DAG's three snapshot tasks run), then reconcile in another fresh process."""
    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        loaded = {r["source"]: r for r in pool.starmap(
            load_listing, [(url, source, registry, drift) for source in ("lms", "registry", "hris")])}
    figures: dict[str, Any] = {"snapshots_s": time.monotonic() - started}
    for source, result in loaded.items():
        figures[f"load_{source}_s"] = result["seconds"]
    figures["listing_wait_s"] = {source: round(result["wait_s"], 1) for source, result in loaded.items()}
    figures["listing_peak_rss_mib"] = {source: result["peak_rss_mib"] for source, result in loaded.items()}
    snapshot_ids = {source: result["snapshot_id"] for source, result in loaded.items()}
    figures.update(_in_fresh_process(run_reconcile, url, snapshot_ids, types))
    figures["credsync_total_s"] = time.monotonic() - started
    figures["credsync_peak_rss_mib"] = max(figures["reconcile_peak_rss_mib"], *figures["listing_peak_rss_mib"].values())
    return figures


def run_reconcile(url: str, snapshot_ids: dict[str, uuid.UUID], types: int) -> dict[str, Any]:
    """reconcile over the loaded snapshots (the course rules come from the project's mapping)."""
    from credsync.recon.compare import reconcile
    from credsync.recon.config import load_recon_config
    from credsync.recon.snapshots import SnapshotIds, load_course_rules
    from credsync.warehouse import connect
    from credsync_dev import synthetic

    config = load_recon_config()
    statements: dict[str, float] = {}
    figures: dict[str, Any] = {}
    with connect(url, autocommit=True) as conn:
        mark = time.monotonic()
        rules = load_course_rules(conn, TENANT, synthetic.course_rules(types))
        snapshots = SnapshotIds(**snapshot_ids, rules=rules)
        backend_peaks: dict[int, int] = {}
        plain_cursor, conn.cursor_factory = conn.cursor_factory, _timing_cursor(statements, backend_peaks)
        outcome = reconcile(conn, tenant_id=TENANT, snapshots=snapshots, config=config, as_of=AS_OF)
        figures["reconcile_s"] = time.monotonic() - mark
        conn.cursor_factory = plain_cursor
        figures["reconcile_peak_rss_mib"] = _self_peak_mib()
        # The largest of reconcile's backends (its own and one per comparison group).
        figures["credsync_backend_peak_mib"] = _backends_peak_mib(backend_peaks.values())
        figures["credsync_backends"] = len(backend_peaks)
        figures["reconcile_statements_s"] = {
            name: round(seconds, 2) for name, seconds in sorted(statements.items(), key=lambda i: -i[1])}
        figures["reconcile_top_statements_s"] = dict(list(figures["reconcile_statements_s"].items())[:6])
        by_comparison: dict[str, float] = {}
        for name, seconds in statements.items():
            group = _comparison_of(name)
            by_comparison[group] = by_comparison.get(group, 0.0) + seconds
        figures["reconcile_by_comparison_s"] = {k: round(v, 1) for k, v in sorted(by_comparison.items())}
        figures["findings_by_type"] = outcome.by_type
        figures["snapshot_ids"] = {k: str(v) for k, v in dataclasses.asdict(snapshots).items()}
        figures["snapshot_rows"] = dict(conn.execute(
            "SELECT source, row_count FROM staging.recon_snapshots WHERE tenant_id = %s", (TENANT,)).fetchall())
        figures["credsync_keys"] = {
            pair: sorted(":".join(row) for row in conn.execute(query, {"tenant": TENANT}).fetchall())
            for pair, query in FINDING_KEYS.items()
        }
    return figures


def run_reladiff(url: str, snapshot_ids: dict[str, str], lms_statuses: list[str], threads: int) -> dict[str, Any]:
    """reladiff over the bench.* views, in a fresh process: setup, then every pair one after another."""
    import reladiff
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    from credsync.warehouse import connect

    figures: dict[str, Any] = {"reladiff_rss_start_mib": _self_peak_mib(), "reladiff_threads": threads}
    started = time.monotonic()
    with connect(url, autocommit=True) as conn:
        for statement in RELADIFF_SETUP:
            conn.execute(sql.SQL(statement).format(
                tenant=sql.Literal(TENANT), lms_statuses=sql.Literal(lms_statuses),
                lms_snapshot=sql.Literal(snapshot_ids["lms"]),
                registry_snapshot=sql.Literal(snapshot_ids["registry"]),
                hris_snapshot=sql.Literal(snapshot_ids["hris"])))
    figures["reladiff_setup_s"] = time.monotonic() - started
    keys: dict[str, list[str]] = {}
    stats: dict[str, Any] = {}
    # libpq keywords rather than the URL: reladiff's URL parser drops ?host=<socket dir> (embedded Postgres).
    # Named, so its backends can be found in pg_stat_activity afterwards.
    db = reladiff.connect({"driver": "postgresql", **conninfo_to_dict(url), "application_name": RELADIFF_APP},
                          thread_count=threads)
    try:
        for pair, (left, right, key, columns) in RELADIFF_PAIRS.items():
            mark = time.monotonic()
            with reladiff.diff_tables(
                reladiff.connect_to_table(db, left, key, extra_columns=columns),
                reladiff.connect_to_table(db, right, key, extra_columns=columns),
                max_threadpool_size=threads,
            ) as diff:
                rows = list(diff)
                stats[pair] = diff.get_stats_dict()
            figures[f"reladiff_{pair}_s"] = time.monotonic() - mark
            keys[pair] = sorted({":".join(str(v) for v in row[: len(key)]) for _sign, row in rows})
        figures["reladiff_total_s"] = time.monotonic() - started
        with connect(url, autocommit=True) as conn:
            pids = [r[0] for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (RELADIFF_APP,))]
        peaks = [p for p in map(process_peak_rss_mib, pids) if p is not None]
    finally:
        db.close()
    figures["reladiff_peak_rss_mib"] = _self_peak_mib()
    figures["reladiff_backend_peak_mib"] = _backends_peak_mib(peaks)
    figures["reladiff_backends"] = len(peaks)
    figures["reladiff_keys"] = keys
    figures["reladiff_stats"] = stats
    return figures


def _in_fresh_process(function: Any, *args: Any) -> dict[str, Any]:
    # spawn, not fork: the child's peak RSS is its own, not the seeding parent's.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def run(workers: int, types: int = 2, registry: str = "http", threads: int = 2) -> dict[str, Any]:
    """Seed, time credsync and reladiff on the same data, drop the database; returns the figures."""
    from credsync.recon.config import load_recon_config
    from credsync.warehouse import connect, migrate
    from credsync_dev import synthetic
    from credsync_dev.localenv.postgres import ensure_server
    from sandbox.launcher import generate_secrets, start_all

    server = ensure_server()
    database = server.temporary_database_name("credsync_bench")
    url = server.create_database(database)
    figures: dict[str, Any] = {"workers": workers, "types": types, "registry_listing": registry,
                               "database": database}
    try:
        migrate(url)
        mark = time.monotonic()
        with connect(url, autocommit=True) as conn:
            synthetic.create_tenant(conn, TENANT, workers=workers, types=types, as_of=AS_OF)
            conn.execute("VACUUM ANALYZE")
            drift = choose_drift(conn, workers)
            figures["credentials"] = conn.execute(
                "SELECT count(*) FROM core.credentials WHERE tenant_id = %s", (TENANT,)).fetchone()[0]
            with tempfile.TemporaryDirectory(prefix="recon-bench-") as data_dir:
                if registry == "http":
                    figures["registry_certificates"] = seed_registry_sandbox(conn, Path(data_dir), drift)
                figures["seed_s"] = time.monotonic() - mark
                with contextlib.ExitStack() as stack:
                    access = None
                    if registry == "http":
                        env = generate_secrets([TENANT])
                        # The listing is what is measured, not the sandbox's rate limit.
                        env.update({"SANDBOX_REGISTRY_RATE": "100000", "SANDBOX_REGISTRY_BURST": "100000"})
                        sandboxes = stack.enter_context(start_all(Path(data_dir), env=env, names=["registry"]))
                        client_id, entry = next(iter(json.loads(env["SANDBOX_REGISTRY_CLIENTS"]).items()))
                        access = RegistryAccess(sandboxes.url("registry"), client_id, entry["secret"])
                    figures.update(run_credsync(url, access, drift, types))
            figures["expected_findings"] = drift.expected()
        figures.update(_in_fresh_process(run_reladiff, url, figures["snapshot_ids"],
                                         list(load_recon_config().lms_active_statuses), threads))
    finally:
        server.drop_database(database)
    with connect(server.url, autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (database,)).fetchone()[0]
    figures["database_dropped"] = left == 0
    figures["credsync_findings"] = {pair: len(keys) for pair, keys in figures["credsync_keys"].items()}
    figures["reladiff_findings"] = {pair: len(keys) for pair, keys in figures["reladiff_keys"].items()}
    figures["same_keys"] = figures["credsync_keys"] == figures["reladiff_keys"]
    figures["ratio"] = round(figures["reladiff_total_s"] / figures["credsync_total_s"], 2)
    # Like for like: reladiff starts from the staged snapshots, as reconcile does ...
    figures["ratio_vs_reconcile"] = round(figures["reladiff_total_s"] / figures["reconcile_s"], 2)
    # ... and per pair, against the part of reconcile that serves the same comparison.
    figures["ratio_by_pair"] = {
        pair: round(figures[f"reladiff_{pair}_s"] / figures["reconcile_by_comparison_s"][pair], 2)
        for pair in RELADIFF_PAIRS if figures["reconcile_by_comparison_s"].get(pair)}
    return figures


PRINTED = (
    "workers", "types", "credentials", "registry_listing", "registry_certificates", "seed_s",
    "load_lms_s", "load_registry_s", "load_hris_s", "snapshots_s", "listing_wait_s",
    "reconcile_s", "reconcile_by_comparison_s", "reconcile_top_statements_s", "credsync_total_s",
    "credsync_peak_rss_mib", "listing_peak_rss_mib", "reconcile_peak_rss_mib", "credsync_backend_peak_mib",
    "credsync_backends",
    "reladiff_setup_s", "reladiff_hris_lms_s", "reladiff_credentials_registry_s", "reladiff_credentials_hris_s",
    "reladiff_total_s", "reladiff_threads", "reladiff_peak_rss_mib", "reladiff_backend_peak_mib",
    "ratio", "ratio_vs_reconcile", "ratio_by_pair",
    "findings_by_type", "expected_findings", "credsync_findings", "reladiff_findings", "same_keys",
    "database_dropped",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credsync_dev.bench.recon_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1_000_000, help="workers of the one tenant (>= 100)")
    parser.add_argument("--types", type=int, default=2, help="credentials per worker")
    parser.add_argument("--registry", choices=("http", "generator"), default="http",
                        help="registry listing over HTTP from the sandbox, or from the synthetic generator")
    parser.add_argument("--threads", type=int, default=2, help="reladiff connection threads")
    args = parser.parse_args(argv)
    if args.workers < 100 or args.types < 1 or args.threads < 1:
        parser.error("--workers must be >= 100 (the drift needs distinct workers); --types, --threads >= 1")
    figures = run(args.workers, args.types, args.registry, args.threads)
    width = max(map(len, PRINTED))
    for name in PRINTED:
        value = figures.get(name)
        print(f"{name:<{width}}  {round(value, 2) if isinstance(value, float) else value}")
    ok = (figures["same_keys"] and figures["credsync_findings"] == figures["expected_findings"]
          and figures["database_dropped"])
    print("goal: credsync_total_s < 60 and ratio > 1; credsync_findings = reladiff_findings = expected_findings")
    return 0 if ok else 1


if __name__ == "__main__" and __spec__ is not None and __spec__.name == "credsync_dev.bench.recon_bench":
    sys.exit(main())
