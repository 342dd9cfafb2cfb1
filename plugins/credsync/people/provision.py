"""Provision LMS accounts over SCIM so the LMS matches core.workers: one account per employee.

The diff compares each worker's desired SCIM user with what the LMS holds
*now* (a full Users listing, keyed by ``externalId`` = employee_id), so a
rerun, a lost response or a killed run converges without duplicates: a user
that already exists is adopted, never created twice, and an unchanged user
gets no write at all. ``userName`` is ``employee_id`` (unique per tenant),
never the email, so two people sharing an email stay two accounts.

Lifecycle: active → active account; terminated → inactive; on leave →
inactive unless ``deactivate_on_leave=False``; rehire → the same account
reactivated. A worker who is not active and never had an account gets none.

Binding: an account bound to one employee (``core.learners`` maps its SCIM id
to them, or its ``externalId`` names them) is never adopted or written for
another. SCIM servers match ``userName`` case-insensitively (RFC 7643:
``caseExact`` false), so the ``userName`` fallback of a lookup can return
``E000739``'s account for worker ``e000739``; adoption needs an exact,
unbound match (:func:`adoption_conflict`). Anything else is an identity
conflict: recorded in ``core.scim_actions`` (outcome ``conflict``) and
``audit.dead_letters`` (source ``scim``, reason ``identity_conflict``,
naming both employee ids and the SCIM id), and the tenant's other workers
go on. Ids reach here canonical (staging applies the tenant's case policy).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from credsync.hooks.scim import ENTERPRISE_SCHEMA, USER_SCHEMA, ScimClient
from credsync.hooks.transport import ServiceError as ApiError
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)
CREATE_ATTEMPTS = 4
CONFLICT_SOURCE = "scim"
CONFLICT_REASON = "identity_conflict"


@dataclass(frozen=True)
class Worker:
    """The columns of core.workers provisioning needs."""

    employee_id: str
    given_name: str
    family_name: str
    preferred_name: str | None
    work_email: str | None
    employment_status: str
    department: str | None
    job_title: str | None
    manager_id: str | None
    employment_type: str


@dataclass
class ProvisionReport:
    """Counts per action (small: goes to XCom)."""

    tenant_id: str
    workers: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    conflicts: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "workers": self.workers, "failed": self.failed,
                "conflicts": self.conflicts,
                "pushed": sum(n for a, n in self.actions.items() if a != "adopt"), **self.actions}


@dataclass
class IdentityConflict(Exception):  # not frozen: raising sets __traceback__ / __cause__
    """``employee_id`` may not take the LMS account ``scim_id``: it belongs to ``bound_to``.

    ``bound_to`` is None only when the LMS refuses the userName (409) but no
    lookup returns the account holding it.
    """

    employee_id: str
    scim_id: str | None
    bound_to: str | None
    user_name: str | None
    rule: str

    def __str__(self) -> str:
        account = f"LMS account {self.scim_id} (userName {self.user_name!r})" if self.scim_id else \
            f"userName {self.user_name!r}"
        holder = f"employee {self.bound_to!r}" if self.bound_to else "an account no look-up returns"
        return f"worker {self.employee_id!r}: {account} belongs to {holder}; not adopted ({self.rule})"

    def detail(self) -> dict[str, Any]:
        return {"employee_id": self.employee_id, "bound_employee_id": self.bound_to, "scim_id": self.scim_id,
                "user_name": self.user_name, "rule": self.rule, "message": str(self)}


def adoption_conflict(found: dict[str, Any], employee_id: str, *, bound_to: str | None) -> IdentityConflict | None:
    """Why ``employee_id`` may not adopt ``found`` (None: it may).

    ``bound_to`` is the employee core.learners maps ``found``'s SCIM id to.
    Adoption needs ``externalId`` equal to the employee id exactly, or (an
    earlier create whose answer was lost, from a client that set no
    externalId) no externalId and ``userName`` equal exactly; in both cases
    no other employee may hold the account in core.learners.
    """
    external_id = found.get("externalId") or None
    user_name = found.get("userName")

    def conflict(holder: str | None, rule: str) -> IdentityConflict:
        return IdentityConflict(employee_id, found.get("id"), holder, user_name, rule)

    if bound_to is not None and bound_to != employee_id:
        return conflict(bound_to, "core.learners binds this SCIM id to another employee")
    if external_id is not None and external_id != employee_id:
        return conflict(external_id, "the account's externalId names another employee")
    if external_id is None and user_name != employee_id:
        return conflict(bound_to or user_name, "userName matches only case-insensitively")
    return None


def should_be_active(status: str, *, deactivate_on_leave: bool) -> bool:
    return status == "active" or (status == "leave" and not deactivate_on_leave)


def desired_user(worker: Worker, *, active: bool, manager_scim_id: str | None) -> dict[str, Any]:
    """The SCIM User the LMS should hold for ``worker``."""
    display = f"{worker.preferred_name or worker.given_name} {worker.family_name}"
    enterprise: dict[str, Any] = {"employeeNumber": worker.employee_id}
    if worker.department:
        enterprise["department"] = worker.department
    if manager_scim_id:
        enterprise["manager"] = {"value": manager_scim_id}
    user: dict[str, Any] = {
        "schemas": [USER_SCHEMA, ENTERPRISE_SCHEMA],
        "userName": worker.employee_id,
        "externalId": worker.employee_id,
        "name": {"givenName": worker.given_name, "familyName": worker.family_name,
                 "formatted": f"{worker.given_name} {worker.family_name}"},
        "displayName": display,
        "userType": worker.employment_type,
        "active": active,
        ENTERPRISE_SCHEMA: enterprise,
    }
    if worker.job_title:
        user["title"] = worker.job_title
    if worker.work_email:
        user["emails"] = [{"value": worker.work_email, "type": "work", "primary": True}]
    return user


def comparable(user: dict[str, Any]) -> dict[str, Any]:
    """The attributes we own, in a canonical shape, from a desired or a server-returned user."""
    name = user.get("name") or {}
    enterprise = user.get(ENTERPRISE_SCHEMA) or {}
    emails = user.get("emails") or []
    primary = next((e for e in emails if e.get("primary")), emails[0] if emails else {})
    return {
        "userName": user.get("userName"),
        "externalId": user.get("externalId"),
        "givenName": name.get("givenName"),
        "familyName": name.get("familyName"),
        "displayName": user.get("displayName"),
        "userType": user.get("userType"),
        "title": user.get("title"),
        "active": bool(user.get("active", True)),
        "email": (primary.get("value") or None),
        "employeeNumber": enterprise.get("employeeNumber"),
        "department": enterprise.get("department"),
        "manager": (enterprise.get("manager") or {}).get("value"),
    }


def state_hash(user: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(comparable(user), sort_keys=True).encode()).hexdigest()


def provision_tenant(
    conn: psycopg.Connection,
    scim: ScimClient,
    *,
    tenant_id: str,
    deactivate_on_leave: bool = True,
    employee_ids: list[str] | None = None,
    dag_run_id: str | None = None,
    max_writes: int | None = None,
) -> ProvisionReport:
    """Bring the tenant's LMS users in line with core.workers (or only ``employee_ids``).

    Workers come managers-first, so a report's ``manager`` usually resolves
    on creation; a second pass catches the rest (cycles, managers listed
    later), so a rerun finds nothing left to do.
    ``max_writes`` stops after that many SCIM writes (for tests that kill a
    run halfway). Each worker's outcome commits on its own.
    """
    report = ProvisionReport(tenant_id)
    workers = _load_workers(conn, tenant_id, employee_ids)
    report.workers = len(workers)
    lms = {u.get("externalId"): u for u in scim.iter_users() if u.get("externalId")}
    bindings = _learner_bindings(conn, tenant_id)
    conflicted: set[str] = set()
    failed: set[str] = set()
    writes = 0
    for _pass in (1, 2):
        for worker in workers:
            if max_writes is not None and writes >= max_writes:
                return report
            if worker.employee_id in conflicted:
                continue
            active = should_be_active(worker.employment_status, deactivate_on_leave=deactivate_on_leave)
            existing = lms.get(worker.employee_id)
            if existing is None and not active:
                continue  # never provision an account only to switch it off
            wanted = desired_user(worker, active=active, manager_scim_id=_scim_id(lms, worker.manager_id))
            try:
                outcome = _converge(conn, scim, tenant_id, worker, wanted, existing, dag_run_id, bindings)
            except IdentityConflict as conflict:
                conn.rollback()
                conflicted.add(worker.employee_id)
                report.conflicts += 1
                _record_conflict(conn, tenant_id, conflict, dag_run_id)
                conn.commit()
                log.warning("tenant %s: identity conflict: %s", tenant_id, conflict)
                continue
            except ApiError as exc:
                conn.rollback()
                _record_action(conn, tenant_id, worker.employee_id, existing and existing.get("id"),
                               "update" if existing else "create", "failed", exc.status, str(exc)[:500], dag_run_id)
                conn.commit()
                report.failed += 1
                failed.add(worker.employee_id)
                log.error("tenant %s worker %s: SCIM failed: %s", tenant_id, worker.employee_id, exc)
                continue
            if outcome is None:
                continue
            action, resource = outcome
            lms[worker.employee_id] = resource
            bindings[resource["id"]] = worker.employee_id
            report.actions[action] += 1
            if action != "adopt":
                writes += 1
    # Failed workers stay open: their look-up may not have run, so the conflict may still be there.
    _close_resolved_conflicts(conn, tenant_id, [w.employee_id for w in workers
                                                if w.employee_id not in conflicted | failed])
    return report


def _scim_id(lms: dict[str, dict[str, Any]], employee_id: str | None) -> str | None:
    user = lms.get(employee_id) if employee_id else None
    return user.get("id") if user else None


def _converge(
    conn: psycopg.Connection,
    scim: ScimClient,
    tenant_id: str,
    worker: Worker,
    wanted: dict[str, Any],
    existing: dict[str, Any] | None,
    dag_run_id: str | None,
    bindings: dict[str, str],
) -> tuple[str, dict[str, Any]] | None:
    """One worker: create/adopt/update as needed; records the action and core.learners. None = no change.

    Raises :class:`IdentityConflict` before any SCIM write when the account is bound to someone else.
    """
    action: str | None = None
    if existing is not None:
        # Found by exact externalId, but core.learners may still bind the account to another
        # employee (its externalId was edited in the LMS): writing it would hand over their account.
        conflict = adoption_conflict(existing, worker.employee_id, bound_to=bindings.get(existing["id"]))
        if conflict is not None:
            raise conflict
    else:
        action, existing = _create_or_adopt(scim, worker, wanted, bindings)
        if action == "adopt" and comparable(existing) != comparable(wanted):
            _record_action(conn, tenant_id, worker.employee_id, existing["id"], "adopt", "ok", 200,
                           "account existed in the LMS (earlier run lost its response)", dag_run_id)
            action = None  # fall through to the update below
    if action is None and comparable(existing) != comparable(wanted):
        was_active = bool(existing.get("active", True))
        resource = _replace(scim, existing, wanted)
        action = ("reactivate" if wanted["active"] and not was_active
                  else "deactivate" if was_active and not wanted["active"] else "update")
        existing = resource
    learner_changed = _upsert_learner(conn, tenant_id, worker.employee_id, existing)
    if action is None:
        if learner_changed:
            _record_action(conn, tenant_id, worker.employee_id, existing["id"], "adopt", "ok", None,
                           "LMS account already matched; mapping recorded", dag_run_id)
        conn.commit()
        return ("adopt", existing) if learner_changed else None
    _record_action(conn, tenant_id, worker.employee_id, existing["id"], action, "ok", None, None, dag_run_id)
    conn.commit()
    return action, existing


def _create_or_adopt(scim: ScimClient, worker: Worker, wanted: dict[str, Any],
                     bindings: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """Look up by externalId, then userName, before every create attempt: a retry can never duplicate.

    The userName look-up matches case-insensitively on SCIM servers, so what it
    finds is adopted only through :func:`adoption_conflict`; a 409 that no look-up
    explains is a conflict too (retrying cannot help).
    """
    last: ApiError | None = None
    for _attempt in range(CREATE_ATTEMPTS):
        found = scim.find_user("externalId", worker.employee_id) or scim.find_user("userName", wanted["userName"])
        if found is not None:
            conflict = adoption_conflict(found, worker.employee_id, bound_to=bindings.get(found.get("id", "")))
            if conflict is not None:
                raise conflict
            return "adopt", found
        try:
            return "create", scim.create_user(wanted)
        except ApiError as exc:
            last = exc
            if exc.status is not None and exc.status < 500 and exc.status not in (409, 429):
                raise
            log.warning("create %s failed (%s); looking up before retrying", worker.employee_id, exc)
    assert last is not None
    if last.status == 409:
        raise IdentityConflict(worker.employee_id, None, None, wanted["userName"],
                               "the LMS refuses the userName as taken (409)") from last
    raise last


def _replace(scim: ScimClient, existing: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    version = (existing.get("meta") or {}).get("version")
    try:
        return scim.replace_user(existing["id"], wanted, version=version)
    except ApiError as exc:
        if exc.status != 412:
            raise
        # Someone changed the user since we read it: re-read and apply our state on top once.
        fresh = scim.find_user("externalId", wanted["externalId"]) or existing
        return scim.replace_user(existing["id"], wanted, version=(fresh.get("meta") or {}).get("version"))


def _upsert_learner(conn: psycopg.Connection, tenant_id: str, employee_id: str, user: dict[str, Any]) -> bool:
    """Record the account mapping; True if core.learners changed.

    A SCIM id already bound to another employee (a concurrent run bound it after
    this one read the bindings) is an :class:`IdentityConflict`, never an error
    that stops the tenant.
    """
    from psycopg import errors

    params = {"tenant_id": tenant_id, "employee_id": employee_id, "scim_id": user["id"],
              "user_name": user.get("userName"), "active": bool(user.get("active", True)),
              "synced_hash": state_hash(user), "etag": (user.get("meta") or {}).get("version")}
    # A savepoint, not conn.transaction(): that would commit on its own when nothing ran before it,
    # and the learner row must commit together with its scim_actions row.
    conn.execute("SAVEPOINT upsert_learner")
    try:
        row = conn.execute(sql_text("people/upsert_learner.sql"), params).fetchone()
    except errors.UniqueViolation:
        conn.execute("ROLLBACK TO SAVEPOINT upsert_learner")
        holder = conn.execute(sql_text("people/learner_by_scim_id.sql"),
                              {"tenant_id": tenant_id, "scim_id": user["id"]}).fetchone()
        raise IdentityConflict(employee_id, user["id"], holder[0] if holder else None, user.get("userName"),
                               "core.learners binds this SCIM id to another employee") from None
    conn.execute("RELEASE SAVEPOINT upsert_learner")
    return row is not None


def _learner_bindings(conn: psycopg.Connection, tenant_id: str) -> dict[str, str]:
    """SCIM id → the employee core.learners binds it to."""
    rows = conn.execute(sql_text("people/learner_bindings.sql"), {"tenant_id": tenant_id}).fetchall()
    conn.commit()
    return dict(rows)


def _record_conflict(conn: psycopg.Connection, tenant_id: str, conflict: IdentityConflict,
                     dag_run_id: str | None) -> None:
    """Dead-letter the conflict once: a rerun that finds the same open conflict adds nothing."""
    from credsync.audit import dead_letter

    detail = conflict.detail()
    open_letter = conn.execute(
        sql_text("people/open_identity_conflict.sql"),
        {"tenant_id": tenant_id, "source": CONFLICT_SOURCE, "reason": CONFLICT_REASON,
         "employee_id": conflict.employee_id},
    ).fetchone()
    if open_letter is not None and open_letter[0] == json.loads(json.dumps(detail)):
        return
    _record_action(conn, tenant_id, conflict.employee_id, conflict.scim_id, "adopt", "conflict", None,
                   str(conflict)[:500], dag_run_id)
    dead_letter(conn, tenant_id=tenant_id, source=CONFLICT_SOURCE, entity_key=conflict.employee_id,
                reason=CONFLICT_REASON, detail=detail,
                payload={"employee_id": conflict.employee_id, "scim_id": conflict.scim_id})


def _close_resolved_conflicts(conn: psycopg.Connection, tenant_id: str, employee_ids: list[str]) -> None:
    """Open conflicts of workers this run provisioned (or rightly left alone) without one are resolved."""
    from credsync.audit import append_event

    closed = conn.execute(
        sql_text("people/close_identity_conflicts.sql"),
        {"tenant_id": tenant_id, "source": CONFLICT_SOURCE, "reason": CONFLICT_REASON,
         "employee_ids": employee_ids},
    ).fetchall()
    for (employee_id,) in closed:
        append_event(conn, tenant_id=tenant_id, event_type="dead_letter.resolved", entity_type=CONFLICT_SOURCE,
                     entity_key=employee_id, detail={"reason": CONFLICT_REASON})
    conn.commit()


def _record_action(conn: psycopg.Connection, tenant_id: str, employee_id: str, scim_id: str | None, action: str,
                   outcome: str, http_status: int | None, detail: str | None, dag_run_id: str | None) -> None:
    conn.execute(
        "INSERT INTO core.scim_actions (tenant_id, employee_id, scim_id, action, outcome, http_status, detail,"
        " dag_run_id) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (tenant_id, employee_id, scim_id, action, outcome, http_status, detail, dag_run_id),
    )


def _load_workers(conn: psycopg.Connection, tenant_id: str, employee_ids: list[str] | None) -> list[Worker]:
    rows = conn.execute(
        sql_text("people/provisioning_workers.sql"), {"tenant_id": tenant_id, "employee_ids": employee_ids}
    ).fetchall()
    conn.commit()
    return [Worker(*row) for row in rows]
