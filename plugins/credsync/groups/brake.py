"""The brake on mass group removals: stage them for the same human decision as mass deactivations.

When one ``push_groups`` run would remove more group memberships than the tenant's
``provisioning.brake`` allows (more than ``max_count`` *and* more than ``max_share`` of the
memberships credsync manages in the LMS), it sends none of those removals: it stages them as a
change set of kind ``groups`` (``core.staged_change_sets`` / ``core.staged_changes``, one row per
worker and group) and ``scim_change_approval`` asks a human (Required Actions), as for users
(:mod:`credsync.people.brake`). Adds and every other group go on.

Counted are removals of accounts that stay active: a remapping, an IdP that lost its groups, a
reorganisation file stripping departments. A worker whose account is inactive (deactivated, the
decision the user brake already guards) leaves their groups without a second question.

- **Approve** → :func:`apply_group_change_set` PATCHes exactly the staged removals (one request per
  group), never a recomputed diff; a staged removal whose worker core now wants in the group
  again, or whose group is no longer the one staged, is ``superseded`` and not sent.
- **Reject** → parked with the reason (:func:`credsync.people.brake.reject_change_set`); the LMS
  groups stay as they are and later runs do not stage those removals again.
- **Timeout** → expired; the next run stages and asks again.

Plain module (psycopg only, imported lazily).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

    from credsync.hooks.scim import ScimClient
    from credsync.people.guards import Brake

log = logging.getLogger(__name__)
KIND = "groups"
ACTION = "remove_member"


@dataclass(frozen=True)
class Removal:
    """One membership a run would remove: ``member`` (SCIM user id) of ``employee_id`` from a group."""

    group_key: str
    group_scim_id: str
    member: str
    employee_id: str

    def target(self) -> dict[str, Any]:
        # The exact PATCH operation an approval sends (RFC 7644 §3.5.2.2, remove by value).
        return {"group_key": self.group_key, "group_scim_id": self.group_scim_id, "member": self.member,
                "operation": {"op": "remove", "path": f'members[value eq "{self.member}"]'}}

    def target_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.target(), sort_keys=True).encode()).hexdigest()


@dataclass
class BrakeOutcome:
    """What the brake decided for this run's removals."""

    withheld: set[tuple[str, str]]  # (group_key, member) not to send in this run
    awaiting_approval: int = 0
    parked: int = 0
    change_set_id: str | None = None


def brake_removals(conn: psycopg.Connection, *, tenant_id: str, removals: list[Removal], population: int,
                   brake: Brake, dag_run_id: str | None, enabled: bool = True) -> BrakeOutcome:
    """Stage ``removals`` when they trip ``brake`` (or wait behind a pending set); commits."""
    from credsync.people import brake as braking

    if not removals or not enabled:
        return BrakeOutcome(set())
    rejected = braking.parked_targets(conn, tenant_id, KIND)
    parked = [r for r in removals if (r.employee_id, r.target_hash()) in rejected]
    open_removals = [r for r in removals if (r.employee_id, r.target_hash()) not in rejected]
    outcome = BrakeOutcome({(r.group_key, r.member) for r in parked}, parked=len(parked))
    pending = braking.pending_change_set(conn, tenant_id, KIND)
    if pending is not None:
        # One decision at a time: no removal of an active account until the pending set is decided.
        outcome.withheld |= {(r.group_key, r.member) for r in open_removals}
        outcome.awaiting_approval = len(open_removals)
        conn.commit()
        log.warning("tenant %s: group change set %s awaits a decision; %d removal(s) wait with it",
                    tenant_id, pending, len(open_removals))
        return outcome
    if not brake.trips(len(open_removals), population):
        conn.commit()
        return outcome
    changes = [braking.StagedChange(r.employee_id, r.member, ACTION, r.target(), r.target_hash(), r.group_key)
               for r in open_removals]
    outcome.change_set_id = braking.stage_change_set(conn, tenant_id=tenant_id, changes=changes,
                                                     population=population, brake=brake, dag_run_id=dag_run_id,
                                                     kind=KIND)
    conn.commit()
    outcome.withheld |= {(r.group_key, r.member) for r in open_removals}
    outcome.awaiting_approval = len(open_removals)
    log.warning("tenant %s: %d of %d group memberships would be removed: over the brake %s; staged as change "
                "set %s for approval", tenant_id, len(open_removals), population, brake.as_dict(),
                outcome.change_set_id)
    return outcome


def apply_group_change_set(conn: psycopg.Connection, scim: ScimClient, *, tenant_id: str, change_set_id: str,
                           decided_by: str, dag_run_id: str | None = None) -> dict[str, Any]:
    """PATCH exactly the staged removals, one request per group; safe to rerun (outcomes are kept)."""
    from credsync.groups.push import record_group_action
    from credsync.groups.scim_groups import ScimGroups
    from credsync.hooks.transport import ServiceError
    from credsync.people.brake import _close, _lock_pending

    status = _lock_pending(conn, tenant_id, change_set_id)
    if status != "pending":
        conn.rollback()
        return {"change_set_id": change_set_id, "status": status, "already_decided": True}
    conn.commit()
    todo = conn.execute(
        "SELECT c.employee_id, c.scim_id, c.group_key, c.target, g.scim_id, coalesce(g.managed, false),"
        " m.employee_id IS NOT NULL, l.employee_id"
        " FROM core.staged_changes c"
        " LEFT JOIN core.scim_groups g ON g.tenant_id = c.tenant_id AND g.group_key = c.group_key"
        " LEFT JOIN core.group_memberships m ON m.tenant_id = c.tenant_id AND m.group_key = c.group_key"
        "  AND m.employee_id = c.employee_id"
        " LEFT JOIN core.learners l ON l.tenant_id = c.tenant_id AND l.scim_id = c.scim_id"
        " WHERE c.tenant_id = %s AND c.change_set_id = %s AND c.outcome IS NULL"
        " ORDER BY c.group_key, c.employee_id", (tenant_id, change_set_id)).fetchall()
    conn.commit()
    counts = {"applied": 0, "superseded": 0, "failed": 0}
    by_group: dict[str, list[tuple[str, str]]] = {}
    for employee_id, member, group_key, target, group_scim_id, managed, wanted_again, bound_to in todo:
        why = None
        if not managed or group_scim_id != target["group_scim_id"]:
            why = "the group is no longer the managed group staged (released or replaced); not written"
        elif wanted_again:
            why = "core wants the worker in this group again; left as it is"
        elif bound_to != employee_id:
            why = "the member account is no longer this worker's; not written"
        if why is not None:
            _set_outcome(conn, tenant_id, change_set_id, employee_id, group_key, "superseded", why)
            counts["superseded"] += 1
            continue
        by_group.setdefault(group_key, []).append((employee_id, member))
    groups = ScimGroups(scim)
    for group_key, members in by_group.items():
        group_scim_id = next(t[3]["group_scim_id"] for t in todo if t[2] == group_key)
        try:
            groups.remove_members(group_scim_id, [m for _, m in members])
        except ServiceError as exc:
            conn.rollback()
            counts["failed"] += len(members)
            log.error("tenant %s: group %s: approved removals failed: %s", tenant_id, group_key, exc)
            continue
        record_group_action(conn, tenant_id, group_key, group_scim_id, "remove", [e for e, _ in members], "ok",
                            None, f"approved change set {change_set_id}", dag_run_id)
        for employee_id, _ in members:
            _set_outcome(conn, tenant_id, change_set_id, employee_id, group_key, "applied", None)
        counts["applied"] += len(members)
    if counts["failed"]:
        # Left pending (the failed rows have no outcome): clearing the decide task retries only them.
        return {"change_set_id": change_set_id, "status": "pending", **counts}
    _lock_pending(conn, tenant_id, change_set_id)
    _close(conn, tenant_id, change_set_id, "applied", decided_by, None)
    conn.commit()
    log.info("tenant %s: group change set %s approved by %s: %s", tenant_id, change_set_id, decided_by, counts)
    return {"change_set_id": change_set_id, "status": "applied", **counts}


def _set_outcome(conn: psycopg.Connection, tenant_id: str, change_set_id: str, employee_id: str, group_key: str,
                 outcome: str, detail: str | None) -> None:
    conn.execute("UPDATE core.staged_changes SET outcome = %s, detail = %s WHERE tenant_id = %s AND change_set_id = %s"
                 " AND employee_id = %s AND action = %s AND group_key = %s",
                 (outcome, detail, tenant_id, change_set_id, employee_id, ACTION, group_key))
    conn.commit()
