"""What two runs of the same input must agree on: the warehouse tables, row by row.

Every column takes part except those that legitimately differ between two
runs: timestamps, values the outside systems or the database generate
(SCIM ids and ETags, registry ids, serial keys, batch and run ids), signatures
over a timestamp (``vc_jwt``), attempt counters (a killed task's retry is one
more attempt, by design) and hashes over payloads that carry a credential id.
Credential ids themselves are random per award: they are compared as the award
they name (tenant, employee, type, version); a did:web issuer's host (a port of
each local environment's own) as a placeholder. Attempt logs (``core.registry_attempts``,
``core.scim_actions``) and per-run bookkeeping are not compared: a kill adds
attempts to them.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

COMPARED = (
    "core.workers",
    "core.worker_changes",
    "core.learners",
    "core.completions",
    "core.voided_statements",
    "core.held_completions",
    "core.credentials",
    "core.credential_decisions",
    "core.expiry_reminders",
    "core.registry_submissions",
    "core.writebacks",
    "audit.dead_letters",
    "audit.quarantine",
    "recon.findings",
)
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# A did:web issuer names the host that serves its DID document; each local environment serves it on
# a port of its own, so the host is compared as a placeholder.
_DID_WEB_HOST = re.compile(r"did:web:[^:/\s\"]+")
VOLATILE_TYPES = {"timestamp with time zone", "timestamp without time zone"}
# Generated elsewhere (SCIM server, registry, uuid4/serial in the database), counting attempts, or a
# hash over something that carries such an id (a write-back's payload names the credential id, a
# learner's synced_hash the manager's SCIM id; the SCIM users themselves are compared by the scenario).
VOLATILE_COLUMNS = {
    "scim_id", "etag", "registry_id", "vc_jwt", "attempts", "batch_id", "last_batch_id", "run_id",
    "first_run_id", "last_run_id", "resolved_run_id", "dag_run_id", "last_error", "last_status",
    "payload_hash", "synced_hash",
}


def compared_columns(conn, table: str) -> list[str]:
    schema, name = table.split(".")
    rows = conn.execute(
        "SELECT column_name, data_type, column_default, is_identity FROM information_schema.columns"
        " WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, name),
    ).fetchall()
    return [
        column for column, data_type, default, identity in rows
        if data_type not in VOLATILE_TYPES and column not in VOLATILE_COLUMNS
        and not (default or "").startswith("nextval(") and identity != "YES"
    ]


def snapshot(url: str) -> dict[str, Counter]:
    """Each compared table as a multiset of rows (compared columns only, as text).

    Credential ids are random (uuid4) per award, so each is replaced, wherever it appears (foreign
    keys, idempotency keys, evidence), by what identifies the award: tenant, employee, type, version.
    """
    from credsync.warehouse import connect

    tables: dict[str, Counter] = {}
    with connect(url) as conn:
        awards = dict(conn.execute(
            "SELECT credential_id::text, concat_ws('/', 'award', tenant_id, employee_id, credential_type,"
            " 'v' || version) FROM core.credentials").fetchall())
        for table in COMPARED:
            columns = compared_columns(conn, table)
            select = ", ".join(f'"{c}"::text' for c in columns)
            rows = conn.execute(f"SELECT {select} FROM {table}").fetchall()
            tables[table] = Counter(
                tuple((column, _canonical(value, awards)) for column, value in zip(columns, row, strict=True))
                for row in rows
            )
    return tables


def _canonical(value: str | None, awards: dict[str, str]) -> str | None:
    if value is None:
        return None
    for credential_id in _UUID.findall(value):
        if credential_id in awards:
            value = value.replace(credential_id, awards[credential_id])
    return without_local_hosts(value)


def without_local_hosts(text: str) -> str:
    """``text`` with the environment's own did:web host replaced by a placeholder."""
    return _DID_WEB_HOST.sub("did:web:<issuer host>", text)


def dump(tables: dict[str, Counter], path: Path) -> None:
    """The compared rows as JSON (one sorted list per table), to diff two runs by eye."""
    rows = {t: sorted(json.dumps(dict(r), sort_keys=True) for r in c.elements()) for t, c in tables.items()}
    path.write_text(json.dumps(rows, indent=1) + "\n")


def differences(expected: dict[str, Counter], actual: dict[str, Counter], *, shown: int = 5) -> dict[str, dict]:
    """Per table that differs: row counts, and a few rows only one side has (a repeated row counts)."""
    report: dict[str, dict] = {}
    for table in COMPARED:
        missing = expected[table] - actual[table]
        extra = actual[table] - expected[table]
        if missing or extra:
            report[table] = {
                "rows_expected": sum(expected[table].values()),
                "rows_actual": sum(actual[table].values()),
                "columns_differing": _columns_differing(missing, extra, shown),
                "only_in_expected": [dict(r) for r in list(missing)[:shown]],
                "only_in_actual": [dict(r) for r in list(extra)[:shown]],
            }
    return report


def _columns_differing(missing: Counter, extra: Counter, shown: int) -> dict[str, dict]:
    """Columns whose values differ between the rows only one side has, with a few values of each."""
    def values(rows: Counter) -> dict[str, Counter]:
        per_column: dict[str, Counter] = {}
        for row, count in rows.items():
            for column, value in row:
                per_column.setdefault(column, Counter())[value] += count
        return per_column

    left, right = values(missing), values(extra)
    return {
        column: {"expected": list(left.get(column, Counter()) - right.get(column, Counter()))[:shown],
                 "actual": list(right.get(column, Counter()) - left.get(column, Counter()))[:shown]}
        for column in sorted(set(left) | set(right))
        if left.get(column) != right.get(column)
    }


def duplicate_keys(url: str) -> dict[str, int]:
    """Keys the pipeline promises are unique per tenant, with how many repeat (expected: none)."""
    from credsync.warehouse import connect

    checks = {
        "learner per employee": "SELECT count(*) FROM (SELECT 1 FROM core.learners"
                                " GROUP BY tenant_id, employee_id HAVING count(*) > 1) d",
        "SCIM id bound twice": "SELECT count(*) FROM (SELECT 1 FROM core.learners WHERE scim_id IS NOT NULL"
                               " GROUP BY tenant_id, scim_id HAVING count(*) > 1) d",
        "submission per idempotency key": "SELECT count(*) FROM (SELECT 1 FROM core.registry_submissions"
                                          " GROUP BY idempotency_key HAVING count(*) > 1) d",
        "registry id acknowledged twice": "SELECT count(*) FROM (SELECT 1 FROM core.registry_submissions"
                                          " WHERE registry_id IS NOT NULL AND operation = 'issue'"
                                          " GROUP BY registry_id HAVING count(*) > 1) d",
    }
    with connect(url) as conn:
        return {name: conn.execute(sql).fetchone()[0] for name, sql in checks.items()}
