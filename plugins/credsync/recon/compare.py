"""Set-based comparisons of one tenant and the findings lifecycle (include/sql/recon/).

One call of :func:`reconcile` is one reconciliation run: it runs every
comparison against the given snapshots (the four side by side, each on its
own connection and transaction, handing what it observed over through
``staging.recon_observed``), then in one transaction records the run and its
per-comparison drift, opens/updates/closes findings, applies the safe fixes and
stores the delivery metrics.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from credsync.credentials.plan import build_plan
from credsync.paths import SQL_DIR, sql_text
from credsync.recon.config import COMPARISONS, ReconConfig
from credsync.recon.snapshots import SnapshotIds

if TYPE_CHECKING:
    import psycopg

COMPARE_DIR = SQL_DIR / "recon" / "compare"
# Every finding type the comparison SQL emits; include/recon.yaml must cover them all.
FINDING_TYPES = (
    "learner_missing", "learner_orphaned", "learner_active_mismatch", "learner_duplicate",
    "learner_attribute_drift", "credential_not_issued", "credential_without_evidence",
    "credential_active_past_expiry", "registry_missing", "registry_not_revoked",
    "registry_status_mismatch", "registry_unknown", "terminated_still_certified",
    "pay_flag_without_credential", "writeback_missing",
)
_REGISTRY_FIXES = {"requeue_registry_issue": "issue", "requeue_registry_revoke": "revoke"}
_METRICS = (
    "registry_success_rate", "writeback_success_rate", "registry_latency_p50_s",
    "registry_latency_p95_s", "writeback_latency_p50_s", "writeback_latency_p95_s",
)


@dataclass
class RunOutcome:
    """What one reconciliation run found and did (small: goes to XCom as a dict)."""

    run_id: str
    tenant_id: str
    findings_open: int = 0
    findings_new: int = 0
    findings_resolved: int = 0
    findings_auto_fixed: int = 0
    findings_queued: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    drift: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float | None] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def _dead_letter_settled_registry_writes(
    conn: psycopg.Connection, tenant_id: str, run_id: uuid.UUID, fixed: list[tuple]
) -> None:
    """Park registry writes that cannot be re-queued (already acknowledged/dead) for replay.

    core.registry_submissions only moves forward, so a certificate the registry
    lost after acknowledging it goes to audit.dead_letters (source ``registry``),
    where the on-call replays it through the delivery path (docs/runbook.md).
    """
    from credsync.audit import dead_letter

    for finding_type, action, fix, credential_id, entity_key in fixed:
        if action != "queued_fix" or fix not in _REGISTRY_FIXES:
            continue
        operation = _REGISTRY_FIXES[fix]
        # Same entity_key as delivery's own registry letters (the idempotency key),
        # so the dlq_replay DAG finds the submission.
        row = conn.execute(
            "SELECT s.idempotency_key FROM core.registry_submissions s JOIN core.credentials c "
            "ON c.credential_id = s.credential_id AND c.version = s.version "
            "WHERE s.credential_id = %s AND s.operation = %s",
            (credential_id, operation),
        ).fetchone()
        dead_letter(
            conn,
            tenant_id=tenant_id,
            source="registry",
            entity_key=row[0] if row else str(credential_id),
            reason=f"recon_{finding_type}",
            detail={"finding_type": finding_type, "entity_key": entity_key, "recon_run_id": str(run_id),
                    "rule": f"reconciliation found {finding_type}; re-{operation} needed"},
            payload={"credential_id": str(credential_id), "operation": operation},
        )


# One group per comparison (their scratch tables are their own), run side by side on
# connections of their own so Postgres spreads them over the cores. The delivery metrics
# go with the lightest, credentials_hris. Compare files are numbered by comparison.
_GROUPS = {"completions_credentials": "2", "hris_lms": "1", "credentials_registry": "3", "credentials_hris": "4"}
_OBSERVED_COLUMNS = ("comparison, finding_type, entity_key, subject, employee_id, credential_id, "
                     "left_system, left_value, right_system, right_value")


def _session_settings(cur: psycopg.Cursor, work_mem: str) -> None:
    # Transaction-local: a large tenant's whole-table joins fit in memory instead of spilling,
    # and JIT compilation (seconds per statement on inflated estimates) buys nothing here.
    cur.execute("SELECT set_config('work_mem', %s, true), set_config('jit', 'off', true)", (work_mem,))


def _observe(conn: psycopg.Connection, group: str, params: dict, work_mem: str) -> tuple[dict, dict]:
    """Run one comparison; park what it observed in staging.recon_observed.

    Returns its population and, for ``credentials_hris``, the delivery metrics.
    """
    metrics: dict[str, float | None] = {}
    with conn.transaction(), conn.cursor() as cur:
        _session_settings(cur, work_mem)
        cur.execute(sql_text("recon/prepare.sql"))
        if group == "completions_credentials":
            # "Eligible" is whatever issuance would do now: run its plan over the snapshot's rules.
            cur.execute(sql_text("credentials/rules_temp_table.sql"))
            cur.execute(sql_text("recon/prepare_rules.sql"), params)
            build_plan(cur, {"tenant_id": params["tenant_id"], "as_of": params["as_of_date"],
                             "completed_before": params["grace_cutoff"]})
        elif group == "hris_lms":
            cur.execute(sql_text("recon/prepare_lms_users.sql"), params)
            cur.execute("CREATE INDEX ON recon_lms_users (employee_id)")
            cur.execute("ANALYZE recon_lms_users")
        elif group == "credentials_registry":
            cur.execute(sql_text("recon/prepare_registry_match.sql"), params)
            cur.execute("ANALYZE recon_registry_match")
            cur.execute(sql_text("recon/prepare_registry_fallback.sql"), params)
        else:
            row = cur.execute(sql_text("recon/delivery_metrics.sql"), params).fetchone()
            metrics = {k: (None if v is None else float(v)) for k, v in zip(_METRICS, row, strict=True)}
        for path in sorted(COMPARE_DIR.glob(f"{_GROUPS[group]}*.sql")):
            cur.execute(path.read_text(encoding="utf-8"), params)
        population = cur.execute(sql_text(f"recon/population/{group}.sql"), params).fetchone()[0]
        cur.execute("DELETE FROM staging.recon_observed WHERE run_id = %s AND grp = %s", (params["run_id"], group))
        cur.execute(f"INSERT INTO staging.recon_observed (run_id, tenant_id, grp, {_OBSERVED_COLUMNS}) "
                    f"SELECT %s, %s, %s, {_OBSERVED_COLUMNS} FROM recon_observed",
                    (params["run_id"], params["tenant_id"], group))
    return {group: population}, metrics


def _observe_all(conn: psycopg.Connection, params: dict, work_mem: str) -> tuple[dict, dict]:
    """Every group, side by side on their own connections when ``conn`` is idle.

    Inside a caller's open transaction they run one after the other on ``conn``,
    so they see what that transaction has written.
    """
    from concurrent.futures import ThreadPoolExecutor

    import psycopg

    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        results = [_observe(conn, group, params, work_mem) for group in _GROUPS]
    else:
        def run(group: str) -> tuple[dict, dict]:
            with psycopg.connect(conn.info.dsn, password=conn.info.password, autocommit=True) as own:
                own.cursor_factory = conn.cursor_factory  # the benchmark times statements through it
                return _observe(own, group, params, work_mem)

        with ThreadPoolExecutor(max_workers=len(_GROUPS), thread_name_prefix="recon") as pool:
            results = list(pool.map(run, _GROUPS))
    populations = {c: n for group_populations, _ in results for c, n in group_populations.items()}
    metrics = {k: v for _, group_metrics in results for k, v in group_metrics.items()}
    return {c: populations[c] for c in COMPARISONS}, metrics


class SnapshotMissing(RuntimeError):
    """A snapshot the run should compare against is no longer in staging."""


def _require_snapshots(conn: psycopg.Connection, tenant_id: str, snapshots: SnapshotIds) -> None:
    """Refuse to compare against a snapshot staging no longer holds.

    A newer load of the same source replaced it, or the warehouse restarted (the
    snapshot tables are unlogged). Comparing anyway would read an empty listing
    and report, and re-queue, everything as missing.
    """
    wanted = {"lms_learners": snapshots.lms, "registry": snapshots.registry,
              "hris_writeback": snapshots.hris, "credential_rules": snapshots.rules}
    held = set(conn.execute(
        "SELECT source, snapshot_id FROM staging.recon_snapshots WHERE tenant_id = %s AND snapshot_id = ANY(%s)",
        (tenant_id, list(wanted.values()))).fetchall())
    gone = [f"{source} {snapshot_id}" for source, snapshot_id in wanted.items() if (source, snapshot_id) not in held]
    if gone:
        raise SnapshotMissing(
            f"tenant {tenant_id!r}: snapshot(s) {', '.join(gone)} are no longer in staging.recon_snapshots "
            "(replaced by a newer load, or lost in a warehouse restart); rerun the snapshot tasks, then compare")


def run_id_for(tenant_id: str, dag_run_id: str | None) -> uuid.UUID:
    """A stable run id per (tenant, DAG run): a retried task is the same run, not a new one."""
    if not dag_run_id:
        return uuid.uuid4()
    return uuid.uuid5(uuid.NAMESPACE_URL, f"credsync:recon:{tenant_id}:{dag_run_id}")


def reconcile(
    conn: psycopg.Connection,
    *,
    tenant_id: str,
    snapshots: SnapshotIds,
    config: ReconConfig,
    as_of: datetime | None = None,
    dag_run_id: str | None = None,
    run_id: uuid.UUID | None = None,
) -> RunOutcome:
    """Compare ``tenant_id`` against ``snapshots`` and record the run, findings and fixes.

    Commits on success; on error nothing of the run reaches ``recon.*`` (a group's
    parked observations are replaced when the run is retried).
    """
    missing = [t for t in FINDING_TYPES if t not in config.findings]
    if missing:
        raise ValueError(f"include/recon.yaml: findings has no policy for {', '.join(missing)}")
    as_of = as_of or datetime.now(UTC)
    run_id = run_id or run_id_for(tenant_id, dag_run_id)
    params = {
        "tenant_id": tenant_id,
        "run_id": run_id,
        "as_of": as_of,
        "as_of_date": as_of.date(),
        "seen_at": as_of,
        "grace_cutoff": as_of - timedelta(minutes=config.grace_minutes),
        "window_start": as_of - timedelta(hours=config.metrics_window_hours),
        "lms_statuses": list(config.lms_active_statuses),
        "lms_snapshot": snapshots.lms,
        "registry_snapshot": snapshots.registry,
        "hris_snapshot": snapshots.hris,
        "rules_snapshot": snapshots.rules,
        "comparisons": list(COMPARISONS),
        "escalate_after": config.escalate_after_runs,
        "reason": f"reconciliation run {run_id}",
    }
    outcome = RunOutcome(run_id=str(run_id), tenant_id=tenant_id)
    _require_snapshots(conn, tenant_id, snapshots)
    populations, metrics = _observe_all(conn, params, config.work_mem)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "INSERT INTO recon.runs (run_id, tenant_id, dag_run_id, as_of) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (run_id) DO UPDATE SET as_of = EXCLUDED.as_of, status = 'running'",
            (run_id, tenant_id, dag_run_id, as_of),
        )
        _session_settings(cur, config.work_mem)
        cur.execute(sql_text("recon/prepare.sql"))
        cur.executemany(
            "INSERT INTO recon_policy VALUES (%s, %s, %s, %s, %s)",
            [(p.finding_type, p.comparison, p.severity, p.owner, p.fix) for p in config.findings.values()],
        )
        cur.execute(f"INSERT INTO recon_observed SELECT {_OBSERVED_COLUMNS} FROM staging.recon_observed "
                    "WHERE run_id = %s", (run_id,))
        cur.execute("ANALYZE recon_observed")
        cur.execute(sql_text("recon/record_comparisons.sql"), {
            **params,
            "comparisons": list(populations),
            "populations": list(populations.values()),
        })
        outcome.drift = {
            c: float(r) for c, r in cur.execute(
                "SELECT comparison, drift_rate FROM recon.run_comparisons WHERE run_id = %s", (run_id,))
        }

        cur.execute(sql_text("recon/upsert_findings.sql"), params)
        cur.execute(sql_text("recon/resolve_findings.sql"), params)
        outcome.findings_resolved = cur.rowcount
        fixed = cur.execute(sql_text("recon/fix/apply_fixes.sql"), params).fetchall()
        outcome.findings_auto_fixed = sum(1 for row in fixed if row[1] == "auto_fixed")
        outcome.findings_queued = sum(1 for row in fixed if row[1] == "queued_fix")
        _dead_letter_settled_registry_writes(conn, tenant_id, run_id, fixed)
        cur.execute(sql_text("recon/escalate_findings.sql"), params)

        outcome.by_type = dict(cur.execute(
            "SELECT finding_type, count(*) FROM recon.findings "
            "WHERE tenant_id = %s AND resolved_at IS NULL GROUP BY finding_type ORDER BY finding_type",
            (tenant_id,),
        ).fetchall())
        outcome.findings_open = sum(outcome.by_type.values())
        outcome.findings_new = cur.execute(
            "SELECT count(*) FROM recon.findings WHERE tenant_id = %s AND first_run_id = %s",
            (tenant_id, run_id),
        ).fetchone()[0]
        outcome.metrics = metrics
        # Handed over: the observations now live in recon.findings (and old leftovers of failed runs go too).
        cur.execute("DELETE FROM staging.recon_observed WHERE run_id = %s OR observed_at < now() - interval '2 days'",
                    (run_id,))
        cur.execute(
            """
            UPDATE recon.runs SET status = 'compared', finished_at = clock_timestamp(),
                findings_open = %(open)s, findings_new = %(new)s, findings_resolved = %(resolved)s,
                findings_auto_fixed = %(fixed)s, max_drift_rate = %(max_drift)s,
                registry_success_rate = %(registry_success_rate)s,
                writeback_success_rate = %(writeback_success_rate)s,
                registry_latency_p50_s = %(registry_latency_p50_s)s,
                registry_latency_p95_s = %(registry_latency_p95_s)s,
                writeback_latency_p50_s = %(writeback_latency_p50_s)s,
                writeback_latency_p95_s = %(writeback_latency_p95_s)s
            WHERE run_id = %(run_id)s
            """,
            {
                **outcome.metrics,
                "open": outcome.findings_open,
                "new": outcome.findings_new,
                "resolved": outcome.findings_resolved,
                "fixed": outcome.findings_auto_fixed,
                "max_drift": max(outcome.drift.values(), default=0.0),
                "run_id": run_id,
            },
        )
    return outcome
