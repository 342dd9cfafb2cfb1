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
    actions: Counter[str] = field(default_factory=Counter)
    failed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "mapping_version": self.mapping_version, "groups": self.groups,
                "memberships_added": self.memberships_added, "memberships_removed": self.memberships_removed,
                "released": self.released, "pending_members": self.pending_members, "patches": self.patches,
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
            _record(conn, tenant_id, group_key, scim_id, "release", [], "ok", None,
                    f"left mapping {mapping.version}: no longer managed, left in the LMS as it is", dag_run_id)
    report.memberships_added += added
    report.memberships_removed += removed
    report.released.extend(key for key, _ in released)
    return report


def push_groups(conn: psycopg.Connection, scim: ScimGroups, *, tenant_id: str, full: bool = False,
                mapping: GroupMapping | None = None, dag_run_id: str | None = None) -> GroupPushReport:
    """Derive memberships, then bring every managed group of the LMS in line (``full``: visit all)."""
    report = derive_memberships(conn, tenant_id=tenant_id, mapping=mapping, dag_run_id=dag_run_id)
    rows = conn.execute(sql_text("groups/groups_to_push.sql"), {"tenant_id": tenant_id}).fetchall()
    conn.commit()
    known = _tenant_learners(conn, tenant_id)
    held = _held_by_brake(conn, tenant_id)
    report.groups = len(rows)
    for group_key, display_name, scim_id, wanted, employees, pending, desired_hash, synced_hash, resync in rows:
        report.pending_members += pending
        if not (full or resync or scim_id is None or desired_hash != synced_hash):
            continue
        try:
            _push_one(conn, scim, report, tenant_id=tenant_id, group_key=group_key, display_name=display_name,
                      scim_id=scim_id, wanted=dict(zip(wanted, employees, strict=True)), known=known,
                      held=held, desired_hash=desired_hash, dag_run_id=dag_run_id)
        except ServiceError as exc:
            conn.rollback()
            report.failed.append(group_key)
            _record(conn, tenant_id, group_key, scim_id, "add", [], "failed", exc.status, str(exc)[:500], dag_run_id)
            conn.commit()
            log.error("tenant %s group %s: SCIM failed: %s", tenant_id, group_key, exc)
    return report


def _push_one(conn: psycopg.Connection, scim: ScimGroups, report: GroupPushReport, *, tenant_id: str,
              group_key: str, display_name: str, scim_id: str | None, wanted: dict[str, str],
              known: dict[str, str], held: set[str], desired_hash: str, dag_run_id: str | None) -> None:
    group = scim.get(scim_id) if scim_id else None
    if group is None:
        # Never pushed, or deleted in the LMS: adopt a group carrying our externalId, else create it empty.
        group = scim.find(group_key)
        action = "adopt"
        if group is None:
            group = scim.create_empty(group_key, display_name)
            action = "create"
        scim_id = str(group["id"])
        _record(conn, tenant_id, group_key, scim_id, action, [], "ok", None, None, dag_run_id)
        report.actions[action] += 1
        if action == "adopt":
            group = scim.get(scim_id) or group
    assert scim_id is not None
    current = member_ids(group)
    # Only accounts credsync provisioned for this tenant are ever removed; others are the LMS's own.
    remove = sorted(m for m in current - set(wanted) if m in known)
    # A worker whose deactivation waits for a human (the brake's pending change set) keeps their
    # groups too: removing them here would apply half of a change nobody approved yet.
    kept = [m for m in remove if known[m] in held]
    remove = [m for m in remove if known[m] not in held]
    report.actions["held"] += len(kept)
    add = sorted(set(wanted) - current)
    if remove:
        report.patches += scim.remove_members(scim_id, remove)
        _record(conn, tenant_id, group_key, scim_id, "remove", [known[m] for m in remove], "ok", None, None,
                dag_run_id)
        report.actions["remove"] += len(remove)
    if add:
        report.patches += scim.add_members(scim_id, add)
        _record(conn, tenant_id, group_key, scim_id, "add", [wanted[m] for m in add], "ok", None, None, dag_run_id)
        report.actions["add"] += len(add)
    conn.execute(
        "UPDATE core.scim_groups SET scim_id = %s, desired_hash = %s, synced_hash = %s, synced_at = now(), "
        "resync_requested_at = NULL, updated_at = now() WHERE tenant_id = %s AND group_key = %s",
        # With removals held, the group is not in sync: the next run looks again (after the decision).
        (scim_id, desired_hash, None if kept else desired_hash, tenant_id, group_key))
    conn.commit()


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
        " WHERE c.tenant_id = %s AND (s.status = 'pending' OR (s.status = 'rejected' AND coalesce(l.active, false)))",
        (tenant_id,)).fetchall()
    conn.commit()
    return {r[0] for r in rows}


def _record(conn: psycopg.Connection, tenant_id: str, group_key: str, scim_id: str | None, action: str,
            employee_ids: list[str], outcome: str, http_status: int | None, detail: str | None,
            dag_run_id: str | None) -> None:
    conn.execute(
        "INSERT INTO core.group_actions (tenant_id, group_key, scim_id, action, employee_ids, outcome, http_status,"
        " detail, dag_run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (tenant_id, group_key, scim_id, action, employee_ids, outcome, http_status, detail, dag_run_id))
