"""The brake on mass changes: stage destructive SCIM changes beyond a threshold for a human decision.

Anchor: Entra provisioning's accidental-deletion threshold. When one run of ``provision_tenant``
would deactivate more accounts than the tenant's ``provisioning.brake`` allows
(:class:`credsync.people.guards.Brake`), it applies everything else and stages the deactivations
as one change set in ``core.staged_change_sets`` / ``core.staged_changes``: each row keeps the exact
SCIM resource the run would have sent. ``scim_provisioning`` then asks a human (Airflow's HITL
operator, Required Actions), showing the staged list (:func:`approval_request`):

- **Approve** → :func:`apply_change_set` sends exactly the staged resources, not a recomputed diff;
  a staged worker whom core no longer wants inactive (rehired, HRIS corrected) is ``superseded``
  and left alone, never flipped back.
- **Reject** → :func:`reject_change_set` parks the set with the reason; SCIM and core stay as they
  are, and later runs do not stage the same change again (:func:`parked_targets`) until the worker's
  record changes or the rejection is released (docs/runbook.md).
- **No answer before the approval times out** → :func:`expire_change_set`: nothing applied; the next
  run stages the changes again and asks again.

While a set is pending, runs apply no deactivation for that tenant (:func:`pending_change_set`).
Mass group removals are staged the same way, as sets of kind ``groups``
(:mod:`credsync.groups.brake`); reject and expiry are shared, approval of a group set goes to the applier
the caller hands in.
Plain module (psycopg only, imported lazily by callers).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from credsync.hooks.scim import ScimClient
    from credsync.people.guards import Brake

log = logging.getLogger(__name__)
APPROVE = "Approve"
REJECT = "Reject"
# The Required Actions body lists this many staged changes; the rest are counted (full list: SQL).
LISTED = 200


@dataclass(frozen=True)
class StagedChange:
    """One staged change: a deactivation (``scim_id`` = the account) or a group removal
    (``action`` ``remove_member``, ``scim_id`` = the member's account, ``group_key`` = the group)."""

    employee_id: str
    scim_id: str | None
    action: str
    target: dict[str, Any]
    target_hash: str
    group_key: str = ""


@dataclass(frozen=True)
class Decision:
    """What a human answered (or the timeout): ``approved`` None = no answer (expired)."""

    change_set_id: str
    approved: bool | None
    decided_by: str
    reason: str | None = None


def stage_change_set(conn: psycopg.Connection, *, tenant_id: str, changes: list[StagedChange], population: int,
                     brake: Brake, dag_run_id: str | None, kind: str = "users") -> str:
    """Record ``changes`` as one pending set of ``kind`` (users | groups; caller commits); returns its id."""
    from psycopg.types.json import Jsonb

    from credsync.audit import append_event

    change_set_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO core.staged_change_sets (change_set_id, tenant_id, kind, changes, population, threshold,"
        " dag_run_id) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (change_set_id, tenant_id, kind, len(changes), population, Jsonb(brake.as_dict()), dag_run_id))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO core.staged_changes (tenant_id, change_set_id, employee_id, scim_id, action, target,"
            " target_hash, group_key) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            [(tenant_id, change_set_id, c.employee_id, c.scim_id, c.action, Jsonb(c.target), c.target_hash,
              c.group_key) for c in changes])
    append_event(conn, tenant_id=tenant_id, event_type="provisioning.braked", entity_type="change_set",
                 entity_key=change_set_id, detail={"kind": kind, "changes": len(changes), "population": population,
                                                   **brake.as_dict()})
    return change_set_id


def pending_change_set(conn: psycopg.Connection, tenant_id: str, kind: str = "users") -> str | None:
    row = conn.execute("SELECT change_set_id::text FROM core.staged_change_sets"
                       " WHERE tenant_id = %s AND kind = %s AND status = 'pending'", (tenant_id, kind)).fetchone()
    return row[0] if row else None


def parked_targets(conn: psycopg.Connection, tenant_id: str, kind: str = "users") -> set[tuple[str, str]]:
    """(employee_id, target_hash) of changes a human rejected: not staged again while unchanged."""
    rows = conn.execute(
        "SELECT c.employee_id, c.target_hash FROM core.staged_changes c JOIN core.staged_change_sets s"
        " USING (tenant_id, change_set_id) WHERE c.tenant_id = %s AND s.kind = %s AND s.status = 'rejected'",
        (tenant_id, kind)).fetchall()
    return {(r[0], r[1]) for r in rows}


def change_set_kind(conn: psycopg.Connection, tenant_id: str, change_set_id: str) -> str | None:
    row = conn.execute("SELECT kind FROM core.staged_change_sets WHERE tenant_id = %s AND change_set_id = %s",
                       (tenant_id, change_set_id)).fetchone()
    return row[0] if row else None


def staged_changes(conn: psycopg.Connection, tenant_id: str, change_set_id: str) -> list[StagedChange]:
    rows = conn.execute(
        "SELECT employee_id, scim_id, action, target, target_hash, group_key FROM core.staged_changes"
        " WHERE tenant_id = %s AND change_set_id = %s ORDER BY employee_id, group_key",
        (tenant_id, change_set_id)).fetchall()
    return [StagedChange(*row) for row in rows]


def approval_request(conn: psycopg.Connection, tenant_id: str, change_set_id: str) -> dict[str, str]:
    """Subject and Markdown body for the Required Actions page: the staged list itself."""
    row = conn.execute("SELECT changes, population, threshold, kind FROM core.staged_change_sets"
                       " WHERE tenant_id = %s AND change_set_id = %s", (tenant_id, change_set_id)).fetchone()
    if row is None:
        raise LookupError(f"change set {change_set_id} of tenant {tenant_id} does not exist")
    count, population, threshold, kind = row
    changes = staged_changes(conn, tenant_id, change_set_id)
    share = f"{count / population:.0%}" if population else "all"
    groups = kind == "groups"
    what = (f"**remove {count}** of {population} group memberships" if groups
            else f"**deactivate {count}** of {population} active LMS accounts")
    lines = [
        f"Provisioning for tenant **{tenant_id}** would {what} ({share}); the brake allows at most "
        f"{threshold['max_count']} and {threshold['max_share']:.0%}. Nothing of this set has been sent to the LMS.",
        "",
        f"Change set `{change_set_id}`. **Approve** sends exactly these changes; **Reject** (give a reason) "
        "parks them and leaves the LMS and core as they are. See docs/runbook.md, \"A braked provisioning run\".",
        "",
        *(("| employee_id | action | group | member SCIM id |", "|---|---|---|---|") if groups
          else ("| employee_id | action | SCIM id |", "|---|---|---|")),
        *((f"| {c.employee_id} | {c.action} | {c.group_key} | {c.scim_id or ''} |" if groups
           else f"| {c.employee_id} | {c.action} | {c.scim_id or ''} |") for c in changes[:LISTED]),
    ]
    if len(changes) > LISTED:
        lines.append(f"\n… and {len(changes) - LISTED} more: `SELECT employee_id, action, group_key FROM "
                     f"core.staged_changes WHERE change_set_id = '{change_set_id}'`")
    subject = (f"{tenant_id}: approve {count} group membership removal(s)?" if groups
               else f"{tenant_id}: approve {count} account deactivation(s)?")
    return {"subject": subject, "body": "\n".join(lines), "change_set_id": change_set_id, "tenant_id": tenant_id}


def decide(conn: psycopg.Connection, scim: ScimClient, *, tenant_id: str, decision: Decision,
           dag_run_id: str | None = None,
           apply_groups: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    """Carry out ``decision`` on a pending set; a set already decided is reported, not touched again."""
    if decision.approved is True:
        return apply_change_set(conn, scim, tenant_id=tenant_id, change_set_id=decision.change_set_id,
                                decided_by=decision.decided_by, dag_run_id=dag_run_id, apply_groups=apply_groups)
    if decision.approved is False:
        return reject_change_set(conn, tenant_id=tenant_id, change_set_id=decision.change_set_id,
                                 decided_by=decision.decided_by, reason=decision.reason)
    return expire_change_set(conn, tenant_id=tenant_id, change_set_id=decision.change_set_id)


def _lock_pending(conn: psycopg.Connection, tenant_id: str, change_set_id: str) -> str | None:
    """Lock the set; returns its status (None when it does not exist)."""
    row = conn.execute("SELECT status FROM core.staged_change_sets WHERE tenant_id = %s AND change_set_id = %s"
                       " FOR UPDATE", (tenant_id, change_set_id)).fetchone()
    return row[0] if row else None


def _close(conn: psycopg.Connection, tenant_id: str, change_set_id: str, status: str, decided_by: str | None,
           reason: str | None) -> None:
    from credsync.audit import append_event

    conn.execute("UPDATE core.staged_change_sets SET status = %s, decided_at = now(), decided_by = %s, reason = %s"
                 " WHERE tenant_id = %s AND change_set_id = %s", (status, decided_by, reason, tenant_id,
                                                                  change_set_id))
    append_event(conn, tenant_id=tenant_id, event_type=f"provisioning.change_set_{status}", entity_type="change_set",
                 entity_key=change_set_id, detail={"decided_by": decided_by, "reason": reason})


def reject_change_set(conn: psycopg.Connection, *, tenant_id: str, change_set_id: str, decided_by: str,
                      reason: str | None) -> dict[str, Any]:
    """Park the set with ``reason``: no SCIM call, no core change."""
    status = _lock_pending(conn, tenant_id, change_set_id)
    if status != "pending":
        conn.rollback()
        return {"change_set_id": change_set_id, "status": status, "already_decided": True}
    reason = (reason or "").strip() or "rejected without a reason"
    _close(conn, tenant_id, change_set_id, "rejected", decided_by, reason)
    conn.commit()
    log.warning("tenant %s: change set %s rejected by %s: %s", tenant_id, change_set_id, decided_by, reason)
    return {"change_set_id": change_set_id, "status": "rejected", "reason": reason}


def expire_change_set(conn: psycopg.Connection, *, tenant_id: str, change_set_id: str) -> dict[str, Any]:
    status = _lock_pending(conn, tenant_id, change_set_id)
    if status != "pending":
        conn.rollback()
        return {"change_set_id": change_set_id, "status": status, "already_decided": True}
    _close(conn, tenant_id, change_set_id, "expired", None, "no decision before the approval timed out")
    conn.commit()
    log.warning("tenant %s: change set %s expired without a decision; the next run asks again",
                tenant_id, change_set_id)
    return {"change_set_id": change_set_id, "status": "expired"}


def apply_change_set(conn: psycopg.Connection, scim: ScimClient, *, tenant_id: str, change_set_id: str,
                     decided_by: str, dag_run_id: str | None = None,
                     apply_groups: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    """Send exactly the staged resources; each change's outcome commits with its SCIM action.

    A change whose worker core now wants active (rehired or corrected since staging) is
    ``superseded``: approving a stale deactivation must not switch a working account off.
    Safe to rerun: changes with an outcome are skipped; the set closes once every change has one.
    """
    from credsync.people import provision

    if change_set_kind(conn, tenant_id, change_set_id) == "groups":
        # Group sets are applied by credsync.groups.brake, handed in by the caller (the approval DAG):
        # groups builds on people, so people does not import it back.
        if apply_groups is None:
            raise ValueError(f"change set {change_set_id} of tenant {tenant_id} holds group removals: "
                             "apply it with credsync.groups.brake.apply_group_change_set (apply_groups=)")
        return apply_groups(conn, scim, tenant_id=tenant_id, change_set_id=change_set_id,
                            decided_by=decided_by, dag_run_id=dag_run_id)
    status = _lock_pending(conn, tenant_id, change_set_id)
    if status != "pending":
        conn.rollback()
        return {"change_set_id": change_set_id, "status": status, "already_decided": True}
    conn.commit()
    todo = conn.execute(
        "SELECT employee_id, scim_id, action, target, target_hash FROM core.staged_changes"
        " WHERE tenant_id = %s AND change_set_id = %s AND outcome IS NULL ORDER BY employee_id",
        (tenant_id, change_set_id)).fetchall()
    wanted_inactive = provision.currently_inactive(conn, tenant_id, [r[0] for r in todo])
    counts = {"applied": 0, "superseded": 0, "failed": 0}
    for row in todo:
        change = StagedChange(*row)
        outcome, detail = _apply_one(conn, scim, tenant_id, change, change.employee_id in wanted_inactive,
                                     change_set_id, dag_run_id)
        conn.execute("UPDATE core.staged_changes SET outcome = %s, detail = %s WHERE tenant_id = %s"
                     " AND change_set_id = %s AND employee_id = %s AND action = %s",
                     (outcome, detail, tenant_id, change_set_id, change.employee_id, change.action))
        conn.commit()
        counts[outcome] += 1
    if counts["failed"]:
        # Left pending (the failed rows without an outcome): clearing the task retries only them.
        conn.execute("UPDATE core.staged_changes SET outcome = NULL WHERE tenant_id = %s AND change_set_id = %s"
                     " AND outcome = 'failed'", (tenant_id, change_set_id))
        conn.commit()
        return {"change_set_id": change_set_id, "status": "pending", **counts}
    _lock_pending(conn, tenant_id, change_set_id)
    _close(conn, tenant_id, change_set_id, "applied", decided_by, None)
    conn.commit()
    log.info("tenant %s: change set %s approved by %s: %s", tenant_id, change_set_id, decided_by, counts)
    return {"change_set_id": change_set_id, "status": "applied", **counts}


def _apply_one(conn: psycopg.Connection, scim: ScimClient, tenant_id: str, change: StagedChange, still_wanted: bool,
               change_set_id: str, dag_run_id: str | None) -> tuple[str, str | None]:
    from credsync.hooks.transport import ServiceError
    from credsync.people import provision

    if not still_wanted:
        return "superseded", "core no longer wants this account inactive; left as it is"
    current = scim.find_user("externalId", change.employee_id)
    if current is None or current.get("id") != change.scim_id:
        return "superseded", "the LMS account is not the one staged (gone or replaced); not written"
    try:
        resource = provision.replace_staged(scim, current, change.target)
    except ServiceError as exc:
        conn.rollback()
        return "failed", str(exc)[:500]
    provision.record_applied(conn, tenant_id, change.employee_id, resource, change.action,
                             f"approved change set {change_set_id}", dag_run_id)
    return "applied", None


def decision_from_hitl(change_set_id: str, result: dict[str, Any] | None) -> Decision:
    """A :class:`Decision` from the HITL operator's XCom (None or no option chosen: timed out)."""
    if not result or not result.get("chosen_options"):
        return Decision(change_set_id, None, "timeout")
    chosen = result["chosen_options"][0]
    user = result.get("responded_by_user") or {}
    by = str(user.get("name") or user.get("id") or "unknown") if isinstance(user, dict) else str(user)
    reason = (result.get("params_input") or {}).get("reason")
    return Decision(change_set_id, chosen == APPROVE, by, str(reason) if reason else None)


def summary(conn: psycopg.Connection, tenant_id: str, change_set_id: str) -> dict[str, Any]:
    row = conn.execute("SELECT status, changes, decided_by, reason FROM core.staged_change_sets"
                       " WHERE tenant_id = %s AND change_set_id = %s", (tenant_id, change_set_id)).fetchone()
    return {"status": row[0], "changes": row[1], "decided_by": row[2], "reason": row[3]} if row else {}

