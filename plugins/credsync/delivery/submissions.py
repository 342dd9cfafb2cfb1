"""core.registry_submissions: the pending → sent → acknowledged | dead state machine.

Forward-only moves are enforced by a trigger (0004 migration); these
functions only ever ask for forward moves, each set-based for a whole batch.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from credsync.audit import AuditEvent, append_events, dead_letter
from credsync.hooks.transport import Attempt
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

    from credsync.hooks.registry import ItemOutcome

DEAD_LETTER_SOURCE = "registry"


@dataclass(frozen=True)
class OpenSubmission:
    idempotency_key: str
    operation: str


@dataclass(frozen=True)
class AttemptRow:
    """One row of core.registry_attempts (one item in one HTTP exchange)."""

    credential_id: str
    idempotency_key: str
    operation: str
    attempt: Attempt
    item_status: int | None = None
    item_outcome: str | None = None


def enqueue(conn: psycopg.Connection, tenant_id: str, operations: Sequence[str] = ("issue", "revoke")) -> int:
    """Create submissions for credentials not yet submitted (and revokes for inactive ones).

    For a tenant whose push needs consent (credsync.governance.consent): issues only for workers who
    gave it, unsent issues of workers who have not (now) withheld, and revokes for what the registry
    holds of workers who withdrew it.
    """
    from credsync.governance.consent import consent_purpose

    params = {"tenant_id": tenant_id, "purpose": consent_purpose(tenant_id, "registry_push")}
    created = 0
    if params["purpose"] is not None:
        withheld = conn.execute(sql_text("delivery/withhold_without_consent.sql"), params).fetchall()
        if withheld:
            append_events(conn, tenant_id=tenant_id, events=[
                AuditEvent("registry_issue_withheld", "registry_submission", key,
                           {"employee_id": employee_id, "reason": "no consent for " + params["purpose"]})
                for key, employee_id in withheld])
    if "issue" in operations:
        created += conn.execute(sql_text("delivery/enqueue_issues.sql"), params).rowcount
    if "revoke" in operations:
        created += conn.execute(sql_text("delivery/enqueue_revokes.sql"), params).rowcount
    return created


def open_submissions(conn: psycopg.Connection, tenant_id: str,
                     operations: Sequence[str] = ("issue", "revoke")) -> list[OpenSubmission]:
    rows = conn.execute(sql_text("delivery/open_submissions.sql"),
                        {"tenant_id": tenant_id, "operations": list(operations)}).fetchall()
    return [OpenSubmission(key, operation) for key, operation in rows]


OPEN_STATES = ("pending", "sent", "dead")


def sources(conn: psycopg.Connection, sql_file: str, tenant_id: str, keys: Sequence[str],
            states: Sequence[str] = OPEN_STATES) -> list[dict[str, Any]]:
    """What the registry mapping needs for the submissions ``keys`` (those still to send, by default)."""
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text(sql_file), {"tenant_id": tenant_id, "keys": list(keys), "states": list(states)})
        return cur.fetchall()


def mark_sent(conn: psycopg.Connection, tenant_id: str, keys: Sequence[str]) -> None:
    conn.execute(sql_text("delivery/mark_sent.sql"), {"tenant_id": tenant_id, "keys": list(keys)})


def acknowledge(conn: psycopg.Connection, tenant_id: str, outcomes: Sequence[ItemOutcome]) -> int:
    """Acknowledge accepted outcomes and chain an audit event for each newly acknowledged one."""
    if not outcomes:
        return 0
    rows = conn.execute(
        sql_text("delivery/acknowledge.sql"),
        {
            "tenant_id": tenant_id,
            "keys": [o.idempotency_key for o in outcomes],
            "registry_ids": [o.registry_id for o in outcomes],
            "statuses": [o.status for o in outcomes],
        },
    ).fetchall()
    replayed = {o.idempotency_key for o in outcomes if o.replayed}
    events = [
        AuditEvent(
            "registry.revoked" if operation == "revoke" else "registry.acknowledged",
            "credential", str(credential_id),
            {"idempotency_key": key, "registry_id": registry_id, "status": status,
             "already_there": status == 409, "replayed": key in replayed},
        )
        for key, credential_id, operation, registry_id, status in rows
    ]
    append_events(conn, tenant_id=tenant_id, events=events)
    return len(rows)


def kill(conn: psycopg.Connection, tenant_id: str, failures: Sequence[tuple[str, int | None, str, dict, dict]]) -> int:
    """Move submissions to 'dead' and write one dead letter each.

    ``failures``: (idempotency_key, status, reason, detail, payload). ``detail``
    holds the registry's response body; ``payload`` what was (or would have been) sent.
    """
    if not failures:
        return 0
    conn.execute(
        sql_text("delivery/mark_dead.sql"),
        {
            "tenant_id": tenant_id,
            "keys": [f[0] for f in failures],
            "statuses": [f[1] for f in failures],
            "errors": [f"{f[2]}: {str(f[3])[:500]}" for f in failures],
        },
    )
    for key, _status, reason, detail, payload in failures:
        dead_letter(conn, tenant_id=tenant_id, source=DEAD_LETTER_SOURCE, entity_key=key, reason=reason,
                    detail=detail, payload=payload)
    return len(failures)


def record_transient(conn: psycopg.Connection, tenant_id: str, keys: Sequence[str], status: int | None,
                     error: str) -> None:
    conn.execute(sql_text("delivery/record_transient.sql"),
                 {"tenant_id": tenant_id, "keys": list(keys), "status": status, "error": error[:1000]})


def record_attempts(conn: psycopg.Connection, tenant_id: str, rows: Iterable[AttemptRow]) -> int:
    """COPY attempt rows into core.registry_attempts (set-based: batches make many rows)."""
    buffer = io.StringIO()
    count = 0
    for row in rows:
        status = row.item_status if row.item_status is not None else row.attempt.status
        outcome = row.item_outcome or row.attempt.outcome
        buffer.write("\t".join(_copy_field(v) for v in (
            tenant_id, row.credential_id, row.idempotency_key, row.operation, row.attempt.request_id,
            status, row.attempt.latency_ms, outcome)) + "\n")
        count += 1
    if count:
        with conn.cursor() as cur, cur.copy(
            "COPY core.registry_attempts (tenant_id, credential_id, idempotency_key, operation, request_id,"
            " http_status, latency_ms, outcome) FROM STDIN"
        ) as copy:
            copy.write(buffer.getvalue())
    return count


def _copy_field(value: object) -> str:
    if value is None:
        return r"\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
