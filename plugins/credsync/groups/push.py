"""Group Push: derive each tenant's desired LMS group membership, then converge the LMS on it.

1. :func:`derive_memberships` applies the mapping (:mod:`credsync.groups.mapping`) to active
   workers' HRIS attributes and IdP claims in SQL, writing only the difference into
   ``core.group_memberships`` and ``core.scim_groups``; groups the mapping no longer yields are
   released (``managed = false``: credsync stops writing them and leaves them in the LMS as they
   are; docs/groups.md).
2. :func:`push_groups` visits each managed group that needs it (never pushed, desired members
   changed since the last push, or reconciliation asked for a re-read): looks it up by
   ``externalId`` before creating it empty (a lost 201 never makes a second group), reads its
   members, then sends one PATCH ``remove`` for members credsync provisioned that no longer
   belong and one PATCH ``add`` for the missing ones. A member credsync does not know (an account
   the LMS made itself) is never removed: reconciliation reports it (``group_member_foreign``).

A rerun with nothing changed sends no SCIM request at all; a run killed halfway converges on the
next one. Each group commits on its own, so one failing group leaves the others pushed.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from credsync.groups.mapping import GroupMapping, load_group_mapping
from credsync.groups.scim_groups import ScimGroups, member_ids
from credsync.hooks.transport import ServiceError
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

    from credsync.people.guards import ProvisioningGuards

log = logging.getLogger(__name__)


@dataclass
class GroupPushReport:
    """Counts per action (small: goes to XCom)."""

    tenant_id: str
    mapping_version: str = ""
    groups: int = 0
    memberships_added: int = 0
    memberships_removed: int = 0
    released: list[str] = field(default_factory=list)
    pending_members: int = 0
    patches: int = 0
    awaiting_approval: int = 0  # removals staged (this run or a pending set) for a human decision
    parked: int = 0  # removals a human rejected, not staged again
    change_set_id: str | None = None  # the set this run staged
    actions: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "mapping_version": self.mapping_version, "groups": self.groups,
                "memberships_added": self.memberships_added, "memberships_removed": self.memberships_removed,
                "released": self.released, "pending_members": self.pending_members, "patches": self.patches,
                "awaiting_approval": self.awaiting_approval, "parked": self.parked,
                "change_set_id": self.change_set_id,
                "failed": self.failed, **self.actions}


def derive_memberships(conn: psycopg.Connection, *, tenant_id: str, mapping: GroupMapping | None = None,
                       report: GroupPushReport | None = None, dag_run_id: str | None = None) -> GroupPushReport:
    """Recompute ``core.group_memberships`` for ``tenant_id`` from the mapping; commits."""
    mapping = mapping or load_group_mapping()
    report = report or GroupPushReport(tenant_id)
    report.mapping_version = mapping.version
    with conn.transaction():
        conn.execute("DROP TABLE IF EXISTS pg_temp.group_rules")
        conn.execute("CREATE TEMP TABLE group_rules (rule_id text PRIMARY KEY, attribute text NOT NULL, "
                     "match_value text NOT NULL, target_group text NOT NULL, display_name text NOT NULL) "
                     "ON COMMIT DROP")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO group_rules VALUES (%s, %s, %s, %s, %s)",
                            [(r.rule_id, r.attribute, r.match_value, r.target_group, r.display_name)
                             for r in mapping.rules])
        params = {"tenant_id": tenant_id, "mapping_version": mapping.version}
        added, removed, _groups = conn.execute(sql_text("groups/derive_memberships.sql"), params).fetchone()
        released = conn.execute(sql_text("groups/release_groups.sql"), params).fetchall()
        for group_key, scim_id in released:
            record_group_action(conn, tenant_id, group_key, scim_id, "release", [], "ok", None,
                    f"left mapping {mapping.version}: no longer managed, left in the LMS as it is", dag_run_id)
    report.memberships_added += added
    report.memberships_removed += removed
    report.released.extend(key for key, _ in released)
    return report


def push_groups(conn: psycopg.Connection, scim: ScimGroups, *, tenant_id: str, full: bool = False,
                mapping: GroupMapping | None = None, dag_run_id: str | None = None,
                guards: ProvisioningGuards | None = None, brake: bool = True) -> GroupPushReport:
    """Derive memberships, then bring every managed group of the LMS in line (``full``: visit all).

    Reads every group to visit first, so the brake (:mod:`credsync.groups.brake`) judges the run's
    removals as a whole before any PATCH; ``guards`` default to the tenant's in include/tenants.yaml,
    ``brake=False`` skips the brake.
    """
    from credsync.groups.brake import Removal, brake_removals
    from credsync.people.guards import load_guards

    report = derive_memberships(conn, tenant_id=tenant_id, mapping=mapping, dag_run_id=dag_run_id)
    rows = conn.execute(sql_text("groups/groups_to_push.sql"), {"tenant_id": tenant_id}).fetchall()
    conn.commit()
    known = _tenant_learners(conn, tenant_id)
    active = _active_accounts(conn, tenant_id)
    held = _held_by_brake(conn, tenant_id)
    report.groups = len(rows)
    plans: list[_Plan] = []
    population = 0  # memberships of credsync's accounts the managed groups hold before this run
    for group_key, display_name, scim_id, wanted, employees, pending, desired_hash, synced_hash, resync in rows:
        report.pending_members += pending
        if not (full or resync or scim_id is None or desired_hash != synced_hash):
            population += len(wanted)  # in sync: the LMS holds exactly the desired members
            continue
        try:
            plan = _plan_one(scim, group_key=group_key, display_name=display_name, scim_id=scim_id,
                             wanted=dict(zip(wanted, employees, strict=True)), known=known, held=held,
                             desired_hash=desired_hash)
        except ServiceError as exc:
            _push_failed(conn, report, tenant_id, group_key, scim_id, exc, dag_run_id)
            continue
        population += len(plan.current & set(known))
        report.actions["held"] += len(plan.kept)
        plans.append(plan)
    removals = [Removal(p.group_key, p.scim_id, m, known[m]) for p in plans if p.scim_id for m in p.remove
                if m in active]
    braked = brake_removals(conn, tenant_id=tenant_id, removals=removals, population=population,
                            brake=(guards or load_guards(tenant_id)).brake, dag_run_id=dag_run_id, enabled=brake)
    report.awaiting_approval, report.parked, report.change_set_id = (braked.awaiting_approval, braked.parked,
                                                                     braked.change_set_id)
    for plan in plans:
        try:
            _push_one(conn, scim, report, plan, withheld=braked.withheld, known=known, tenant_id=tenant_id,
                      dag_run_id=dag_run_id)
        except ServiceError as exc:
            _push_failed(conn, report, tenant_id, plan.group_key, plan.scim_id, exc, dag_run_id)
    return report


@dataclass
class _Plan:
    """What one group needs, read from the LMS before any write."""

    group_key: str
    display_name: str
    scim_id: str | None  # None: to be created
    action: str | None  # adopt | create | None
    current: set[str]
    remove: list[str]
    kept: list[str]
    add: list[str]
    wanted: dict[str, str]
    desired_hash: str


def _plan_one(scim: ScimGroups, *, group_key: str, display_name: str, scim_id: str | None, wanted: dict[str, str],
              known: dict[str, str], held: set[str], desired_hash: str) -> _Plan:
    group = scim.get(scim_id) if scim_id else None
    action = None
    if group is None:
        # Never pushed, or deleted in the LMS: adopt a group carrying our externalId, else create it empty.
        found = scim.find(group_key)
        action = "adopt" if found is not None else "create"
        group = (scim.get(str(found["id"])) or found) if found is not None else None
    current = member_ids(group) if group is not None else set()
    # Only accounts credsync provisioned for this tenant are ever removed; others are the LMS's own.
    remove = sorted(m for m in current - set(wanted) if m in known)
    # A worker whose deactivation waits for a human (the brake's pending change set) keeps their
    # groups too: removing them here would apply half of a change nobody approved yet.
    kept = [m for m in remove if known[m] in held]
    return _Plan(group_key, display_name, str(group["id"]) if group is not None else None, action, current,
                 [m for m in remove if known[m] not in held], kept, sorted(set(wanted) - current), wanted,
                 desired_hash)


def _push_one(conn: psycopg.Connection, scim: ScimGroups, report: GroupPushReport, plan: _Plan, *,
              withheld: set[tuple[str, str]], known: dict[str, str], tenant_id: str, dag_run_id: str | None) -> None:
    scim_id = plan.scim_id
    if plan.action is not None:
        if plan.action == "create":
            scim_id = str(scim.create_empty(plan.group_key, plan.display_name)["id"])
        record_group_action(conn, tenant_id, plan.group_key, scim_id, plan.action, [], "ok", None, None, dag_run_id)
        report.actions[plan.action] += 1
    assert scim_id is not None
    # Removals the brake staged (or a human parked) wait for the decision.
    remove = [m for m in plan.remove if (plan.group_key, m) not in withheld]
    waiting = len(plan.remove) - len(remove)
    if remove:
        report.patches += scim.remove_members(scim_id, remove)
        record_group_action(conn, tenant_id, plan.group_key, scim_id, "remove", [known[m] for m in remove], "ok",
                            None, None, dag_run_id)
        report.actions["remove"] += len(remove)
    if plan.add:
        report.patches += scim.add_members(scim_id, plan.add)
        record_group_action(conn, tenant_id, plan.group_key, scim_id, "add", [plan.wanted[m] for m in plan.add], "ok",
                            None, None, dag_run_id)
        report.actions["add"] += len(plan.add)
    conn.execute(
        "UPDATE core.scim_groups SET scim_id = %s, desired_hash = %s, synced_hash = %s, synced_at = now(), "
        "resync_requested_at = NULL, updated_at = now() WHERE tenant_id = %s AND group_key = %s",
        # With removals held, the group is not in sync: the next run looks again (after the decision).
        (scim_id, plan.desired_hash, None if plan.kept or waiting else plan.desired_hash, tenant_id, plan.group_key))
    conn.commit()


def _push_failed(conn: psycopg.Connection, report: GroupPushReport, tenant_id: str, group_key: str,
                 scim_id: str | None, exc: ServiceError, dag_run_id: str | None) -> None:
    conn.rollback()
    report.failed.append(group_key)
    record_group_action(conn, tenant_id, group_key, scim_id, "add", [], "failed", exc.status, str(exc)[:500],
                        dag_run_id)
    conn.commit()
    log.error("tenant %s group %s: SCIM failed: %s", tenant_id, group_key, exc)


def _active_accounts(conn: psycopg.Connection, tenant_id: str) -> set[str]:
    """SCIM ids of the tenant's accounts that are active: only their removals count for the brake."""
    rows = conn.execute("SELECT scim_id FROM core.learners WHERE tenant_id = %s AND active", (tenant_id,)).fetchall()
    conn.commit()
    return {r[0] for r in rows}


def _tenant_learners(conn: psycopg.Connection, tenant_id: str) -> dict[str, str]:
    """SCIM user id -> employee id of every LMS account credsync provisioned for the tenant."""
    rows = conn.execute("SELECT scim_id, employee_id FROM core.learners WHERE tenant_id = %s", (tenant_id,)).fetchall()
    conn.commit()
    return dict(rows)


def _held_by_brake(conn: psycopg.Connection, tenant_id: str) -> set[str]:
    """Employees whose destructive change the brake holds (credsync.people.brake): staged in an undecided
    change set, or rejected while their LMS account stays active (a rejection leaves SCIM as it was,
    groups included)."""
    rows = conn.execute(
        "SELECT DISTINCT c.employee_id FROM core.staged_changes c JOIN core.staged_change_sets s"
        " USING (tenant_id, change_set_id) LEFT JOIN core.learners l"
        " ON l.tenant_id = c.tenant_id AND l.employee_id = c.employee_id"
        " WHERE c.tenant_id = %s AND s.kind = 'users'"
        " AND (s.status = 'pending' OR (s.status = 'rejected' AND coalesce(l.active, false)))",
        (tenant_id,)).fetchall()
    conn.commit()
    return {r[0] for r in rows}


def record_group_action(conn: psycopg.Connection, tenant_id: str, group_key: str, scim_id: str | None, action: str,
                        employee_ids: list[str], outcome: str, http_status: int | None, detail: str | None,
                        dag_run_id: str | None) -> None:
    """One row of core.group_actions (caller commits)."""
    conn.execute(
        "INSERT INTO core.group_actions (tenant_id, group_key, scim_id, action, employee_ids, outcome, http_status,"
        " detail, dag_run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (tenant_id, group_key, scim_id, action, employee_ids, outcome, http_status, detail, dag_run_id))
