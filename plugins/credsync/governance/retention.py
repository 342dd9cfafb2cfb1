"""Enforce the mappings' retention policies on one tenant's warehouse data, as of a fixed moment.

What each layer of a mapping's policy (credsync.governance.retention_policy) acts on:

- ``staging``: the raw rows of the source's batches older than the period (``staging.hris_workers``,
  ``staging.completions`` of that source) are deleted; the batch row in ``audit.batches`` (counts,
  no personal data) stays.
- ``audit``: the quarantined copy of each such record (``audit.quarantine.record``) is cleared;
  the quarantine row, its rule and reason stay, so the batch's counts still reconcile.
- ``core`` anchored at ``termination``: each worker terminated (and not rehired since) longer ago
  than the period is erased or pseudonymised everywhere credsync holds them, audit payloads
  included, by credsync.governance.erasure (the same path as an erasure request).
- ``core`` anchored at ``completion``: completions older than the period are deleted (purge) or
  keep their row with the worker replaced by a pseudonym (pseudonymise); the audit payloads that
  name them are tombstoned (credsync.audit.redact), never deleted.

Every step selects only what is expired and not yet handled, so a rerun changes nothing. All of a
tenant's changes, its ``audit.retention_runs`` row and its ``retention.applied`` audit event commit
together. Plain Python, no Airflow import.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from credsync.audit import append_event
from credsync.governance.retention_policy import Clause, FilePolicy, load_policies
from credsync.paths import MAPPINGS_DIR, sql_text

if TYPE_CHECKING:
    import psycopg


@dataclass(frozen=True)
class Source:
    """Where one mapping's records live in the warehouse."""

    mapping: str
    batch_source: str            # audit.batches.source of its batches (LMS REST and xAPI share "lms")
    staging_table: str
    staging_sql: str             # include/sql/retention/<file>: deletes its expired raw rows
    staging_source: str | None = None      # staging.completions.source
    completions_source: str | None = None  # core.completions.source, for the completion anchor


SOURCES: tuple[Source, ...] = (
    Source("hris_worker_v1.csv", "hris", "staging.hris_workers", "retention/purge_staging_hris.sql"),
    Source("lms_completion_v1.csv", "lms", "staging.completions", "retention/purge_staging_completions.sql",
           "lms_rest", "lms_rest"),
    Source("xapi_statement_v1.csv", "lms", "staging.completions", "retention/purge_staging_completions.sql",
           "xapi", "xapi"),
)


class RetentionRefused(RuntimeError):
    """The policies cannot be enforced as written (conflicting anchors or actions); the message says why."""


@dataclass
class RetentionResult:
    """What one tenant's run did: rows per table and action (``purge``, ``pseudonymise``, ``tombstone``)."""

    tenant_id: str
    run_id: str
    as_of: datetime
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    workers: int = 0

    def add(self, table: str, action: str, n: int) -> None:
        if n:
            per = self.counts.setdefault(table, {})
            per[action] = per.get(action, 0) + n

    @property
    def total(self) -> int:
        return sum(n for per in self.counts.values() for n in per.values())

    def as_dict(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "run_id": self.run_id, "as_of": self.as_of.isoformat(),
                "counts": self.counts, "total": self.total, "workers": self.workers}


# (conn, tenant_id, employee_id, *, mode, request_id) -> {"schema.table": {"action": n}}
WorkerRewrite = Callable[..., Mapping[str, Mapping[str, int]]]


def erase_worker_rewrite(conn: psycopg.Connection, tenant_id: str, employee_id: str, *, mode: str,
                         request_id: str) -> dict[str, dict[str, int]]:
    """A worker erased (``erase``) or pseudonymised everywhere, through credsync.governance.erasure."""
    from credsync.governance.erasure import erase_worker

    report = erase_worker(conn, tenant_id, employee_id, request_id=request_id, source="retention", mode=mode)
    action = "pseudonymise" if mode == "pseudonymise" else "purge"
    counts: dict[str, dict[str, int]] = {}
    for table, n in report.tables.items():
        counts.setdefault(table, {})[action] = n
    for table, n in report.deleted.items():
        counts.setdefault(table, {})["purge"] = counts.get(table, {}).get("purge", 0) + n
    if report.audit_events:
        counts["audit.events"] = {"tombstone": report.audit_events}
    return counts


def _cutoff(clause: Clause, as_of: datetime) -> datetime:
    assert clause.period is not None
    return clause.period.before(as_of)


def _layer(policies: Mapping[str, FilePolicy], source: Source, layer: str) -> Clause | None:
    clause = policies[source.mapping].layers.get(layer)
    return None if clause is None or clause.external else clause


def _termination_clause(policies: Mapping[str, FilePolicy]) -> Clause | None:
    """The one worker-level rule: every mapping anchoring core at termination must agree on the action."""
    found = [(name, c) for name, p in policies.items() if (c := p.layers.get("core")) is not None
             and not c.external and c.anchor == "termination"]
    actions = {c.action for _, c in found}
    if len(actions) > 1:
        raise RetentionRefused("the mappings disagree on what happens to a worker after termination: "
                               + ", ".join(f"{name}: {c.action}" for name, c in found))
    # The worker goes only when every mapping's period is over: the longest applies.
    return max((c for _, c in found), key=lambda c: c.period.approx(), default=None)  # type: ignore[union-attr]


def apply_retention(conn: psycopg.Connection, tenant_id: str, *, as_of: datetime, run_id: str,
                    policies: Mapping[str, FilePolicy] | None = None, mappings_dir: Path = MAPPINGS_DIR,
                    rewrite_worker: WorkerRewrite = erase_worker_rewrite,
                    pseudonym: Callable[[str, str], str] | None = None) -> RetentionResult:
    """Purge or pseudonymise what is expired at ``as_of`` for ``tenant_id``, in the caller's transaction.

    ``policies`` default to the mappings' (parsed first: an unparseable policy raises
    :class:`credsync.mapping.engine.MappingError` before anything changes). ``rewrite_worker`` erases
    or pseudonymises one worker everywhere; ``pseudonym(tenant_id, employee_id)`` names a worker in a
    pseudonymised completion (default: credsync.governance.pseudonymise, mapping kept in its vault).
    """
    if as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    policies = policies if policies is not None else load_policies([s.mapping for s in SOURCES], mappings_dir)
    result = RetentionResult(tenant_id, run_id, as_of)
    # One retention run per tenant at a time (a manual run beside the scheduled one).
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('credsync.retention'), hashtext(%s))", (tenant_id,))

    for source in SOURCES:
        if (clause := _layer(policies, source, "audit")) is not None:
            _purge_quarantine(conn, tenant_id, source, _cutoff(clause, as_of), result)
        if (clause := _layer(policies, source, "staging")) is not None:
            _purge_staging(conn, tenant_id, source, _cutoff(clause, as_of), result)
        clause = _layer(policies, source, "core")
        if clause is not None and clause.anchor == "completion" and source.completions_source:
            _expire_completions(conn, tenant_id, source, clause, _cutoff(clause, as_of), result,
                                pseudonym or _vault_pseudonym(conn, run_id))

    if (clause := _termination_clause(policies)) is not None:
        mode = "pseudonymise" if clause.action == "pseudonymise" else "erase"
        for employee_id in _expired_workers(conn, tenant_id, _cutoff(clause, as_of).date()):
            counts = rewrite_worker(conn, tenant_id, employee_id, mode=mode,
                                    request_id=f"retention:{run_id}:{result.workers + 1}")
            result.workers += 1
            for table, per in counts.items():
                for action, n in per.items():
                    result.add(table, action, n)
    _record(conn, result)
    return result


def _purge_quarantine(conn: psycopg.Connection, tenant_id: str, source: Source, cutoff: datetime,
                      result: RetentionResult) -> None:
    done = conn.execute(sql_text("retention/purge_quarantine.sql"),
                        {"tenant_id": tenant_id, "batch_source": source.batch_source, "cutoff": cutoff}).rowcount
    result.add("audit.quarantine", "purge", done)


def _purge_staging(conn: psycopg.Connection, tenant_id: str, source: Source, cutoff: datetime,
                   result: RetentionResult) -> None:
    done = conn.execute(sql_text(source.staging_sql), {"tenant_id": tenant_id, "cutoff": cutoff,
                                                        "staging_source": source.staging_source}).rowcount
    result.add(source.staging_table, "purge", done)


def _expired_workers(conn: psycopg.Connection, tenant_id: str, cutoff: Any) -> list[str]:
    rows = conn.execute(sql_text("retention/expired_workers.sql"),
                        {"tenant_id": tenant_id, "cutoff": cutoff}).fetchall()
    return [r[0] for r in rows]


def _vault_pseudonym(conn: psycopg.Connection, run_id: str) -> Callable[[str, str], str]:
    def name(tenant_id: str, employee_id: str) -> str:
        from credsync.governance.pseudonymise import pseudonymise

        mapped = pseudonymise(conn, tenant_id, [("employee_id", employee_id)], request_id=f"retention:{run_id}",
                              basis="retention policy")
        return mapped[employee_id]

    return name


def _expire_completions(conn: psycopg.Connection, tenant_id: str, source: Source, clause: Clause,
                        cutoff: datetime, result: RetentionResult, pseudonym: Callable[[str, str], str]) -> None:
    from credsync.audit.redact import tombstone_subject

    rows = conn.execute(sql_text("retention/expired_completions.sql"),
                        {"tenant_id": tenant_id, "completions_source": source.completions_source,
                         "cutoff": cutoff}).fetchall()
    if not rows:
        return
    ids = [r[0] for r in rows]
    params = {"tenant_id": tenant_id, "completions_source": source.completions_source, "source_ids": ids}
    if clause.action == "purge":
        done = conn.execute(sql_text("retention/purge_completions.sql"), params).rowcount
        result.add("core.completions", "purge", done)
    else:
        names = {e: pseudonym(tenant_id, e) for e in sorted({r[1] for r in rows})}
        done = conn.execute(sql_text("retention/pseudonymise_completions.sql"),
                            {**params, "originals": list(names), "pseudonyms": list(names.values())}).rowcount
        result.add("core.completions", "pseudonymise", done)
    redacted = tombstone_subject(conn, tenant_id=tenant_id, values=ids, entity_types=["completion"],
                                 reason="retention", basis=f"{clause}", reference=f"retention:{result.run_id}")
    result.add("audit.events", "tombstone", redacted.tombstoned)


def _record(conn: psycopg.Connection, result: RetentionResult) -> None:
    """The run's row (a rerun of the same run id keeps the counts of the attempt that changed something)."""
    conn.execute(sql_text("retention/record_run.sql"),
                 {"run_id": result.run_id, "tenant_id": result.tenant_id, "as_of": result.as_of,
                  "counts": json.dumps(result.counts), "total": result.total})
    if result.total:
        append_event(conn, tenant_id=result.tenant_id, event_type="retention.applied", entity_type="retention_run",
                     entity_key=result.run_id, detail={"as_of": result.as_of.isoformat(), "counts": result.counts,
                                                       "total": result.total, "workers": result.workers})


def write_report(result: RetentionResult, store: Any) -> str:
    """The run's report as JSON at ``<store>/<tenant>/<run_id>.json`` (ObjectStoragePath); returns its URL."""
    from credsync.objects import write_atomically

    safe_run = "".join(c if c.isalnum() or c in "-_." else "_" for c in result.run_id)
    path = store / result.tenant_id / f"{safe_run}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(result.as_dict(), indent=2, sort_keys=True).encode("utf-8"))
    return str(path)


def as_of_from(moment: datetime | None) -> datetime:
    """A run's moment in UTC (a date-only logical date counts from its midnight)."""
    if moment is None:
        return datetime.now(UTC)
    if not isinstance(moment, datetime):
        return datetime.combine(moment, time(), tzinfo=UTC)
    return moment.astimezone(UTC)
