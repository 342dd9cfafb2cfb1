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

Guards (include/tenants.yaml ``provisioning``, :mod:`credsync.people.guards`), in this order:
a quarantined target is skipped until its back-off elapses (:mod:`credsync.people.budget`);
each worker's status and job are the ones effective *today* in the tenant's time zone, so a
future-dated termination, hire, leave, return or transfer is held (:mod:`credsync.people.effective`,
``core.held_changes``); more
deactivations than the brake allows are staged for a human decision instead of sent
(:mod:`credsync.people.brake`); the run stops and quarantines the target once its SCIM writes
fail beyond the failure budget. Deprovisioning is always ``active=false`` (a full-state PUT),
never a DELETE: the account, its history and its completions stay in the LMS.

Target habits tolerated (Okta/Entra-style SCIM servers): ``active`` and other booleans sent as
the strings ``"true"``/``"false"`` (:func:`scim_bool`); a 409 on create is "it exists": look it
up by externalId, then userName, and adopt it only under the canonical-id rules above.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from credsync.hooks.scim import ENTERPRISE_SCHEMA, USER_SCHEMA, ScimClient
from credsync.hooks.transport import ServiceError as ApiError
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

    from credsync.people.guards import ProvisioningGuards

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
    held: int = 0  # effective-dated changes not due yet (core.held_changes)
    awaiting_approval: int = 0  # deactivations staged (this run or a pending set) for a human decision
    parked: int = 0  # deactivations a human rejected, not staged again
    change_set_id: str | None = None  # the set this run staged
    quarantine: dict[str, Any] | None = None  # set when the target is (or just got) quarantined
    writes: int = 0
    write_failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "workers": self.workers, "failed": self.failed,
                "conflicts": self.conflicts, "held": self.held, "awaiting_approval": self.awaiting_approval,
                "parked": self.parked, "change_set_id": self.change_set_id, "quarantine": self.quarantine,
                "state": self.state, "writes": self.writes, "write_failures": self.write_failures,
                "pushed": sum(n for a, n in self.actions.items() if a != "adopt"), **self.actions}

    @property
    def state(self) -> str:
        """quarantined | awaiting_approval | provisioned (what the grid and on-call read first)."""
        if self.quarantine is not None:
            return "quarantined"
        return "awaiting_approval" if self.awaiting_approval else "provisioned"


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


def scim_bool(value: Any, default: bool = True) -> bool:
    """A SCIM boolean as a target sends it: ``false``, or the string ``"False"`` (some IdP-facing
    servers do); ``bool("false")`` would be True and turn every inactive account active."""
    if value is None:
        return default
    if isinstance(value, str):
        folded = value.strip().lower()
        if folded in ("true", "1", "yes"):
            return True
        if folded in ("false", "0", "no", ""):
            return False
        raise ValueError(f"not a SCIM boolean: {value!r}")
    return bool(value)


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
        "active": scim_bool(user.get("active")),
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
    guards: ProvisioningGuards | None = None,
    now: datetime | None = None,
    brake: bool = True,
) -> ProvisionReport:
    """Bring the tenant's LMS users in line with core.workers (or only ``employee_ids``).

    Workers come managers-first, so a report's ``manager`` usually resolves
    on creation; a second pass catches the rest (cycles, managers listed
    later), so a rerun finds nothing left to do.
    ``max_writes`` stops after that many SCIM writes (for tests that kill a
    run halfway). Each worker's outcome commits on its own.
    ``guards`` default to the tenant's in include/tenants.yaml; ``now`` (default: the clock) fixes
    "today" for effective dates and the quarantine back-off; ``brake=False`` skips the brake (the
    brake's own approval path, and ``employee_ids`` runs, which a human asked for by name).
    """
    from credsync.people import brake as braking
    from credsync.people import budget
    from credsync.people.guards import load_guards

    guards = guards or load_guards(tenant_id)
    now = now or budget.utcnow()
    report = ProvisionReport(tenant_id)
    in_force = budget.current(conn, tenant_id)
    if in_force is not None and not in_force.due(now):
        report.quarantine = in_force.as_dict()
        _note_skipped_quarantine(conn, tenant_id, in_force)
        return report
    workers, held = _effective_workers(conn, tenant_id, _load_workers(conn, tenant_id, employee_ids), guards, now)
    report.workers, report.held = len(workers), len(held)
    lms = {u.get("externalId"): u for u in scim.iter_users() if u.get("externalId")}
    bindings = _learner_bindings(conn, tenant_id)
    withheld = _apply_brake(conn, braking, report, workers, lms, guards, deactivate_on_leave, dag_run_id,
                            enabled=brake and employee_ids is None)
    counted = budget.BudgetedScim(scim, guards.failure_budget)
    conflicted: set[str] = set()
    failed: set[str] = set()
    writes = 0
    for _pass in (1, 2):
        for worker in workers:
            if max_writes is not None and writes >= max_writes:
                return report
            if counted.exhausted:
                report.writes, report.write_failures = counted.attempts, counted.failures
                report.quarantine = budget.quarantine(conn, tenant_id=tenant_id, scim=counted, now=now,
                                                      previous=in_force, dag_run_id=dag_run_id).as_dict()
                return report
            if worker.employee_id in conflicted or worker.employee_id in withheld:
                continue
            active = should_be_active(worker.employment_status, deactivate_on_leave=deactivate_on_leave)
            existing = lms.get(worker.employee_id)
            if existing is None and not active:
                continue  # never provision an account only to switch it off
            wanted = desired_user(worker, active=active, manager_scim_id=_scim_id(lms, worker.manager_id))
            try:
                outcome = _converge(conn, counted, tenant_id, worker, wanted, existing, dag_run_id, bindings)
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
    report.writes, report.write_failures = counted.attempts, counted.failures
    if counted.exhausted:
        report.quarantine = budget.quarantine(conn, tenant_id=tenant_id, scim=counted, now=now,
                                              previous=in_force, dag_run_id=dag_run_id).as_dict()
        return report
    if in_force is not None:  # the back-off elapsed and this probe stayed within the budget
        budget.lift(conn, tenant_id=tenant_id, by="probe within the failure budget")
    # Failed workers stay open: their look-up may not have run, so the conflict may still be there.
    _close_resolved_conflicts(conn, tenant_id, [w.employee_id for w in workers
                                                if w.employee_id not in conflicted | failed])
    return report


def _effective_workers(conn: psycopg.Connection, tenant_id: str, workers: list[Worker], guards: ProvisioningGuards,
                       now: datetime) -> tuple[list[Worker], list[str]]:
    """Each worker with the status and job effective today (tenant time zone); records what is held.

    A held worker's effective state goes to ``core.worker_effective`` too, so Group Push keeps their
    groups as the LMS account is kept (a future termination, leave or transfer moves no group early).
    """
    from credsync.people.effective import effective_status, job_held, local_today

    today = local_today(guards.zone, now)
    dates = {row[0]: row[1:] for row in conn.execute(sql_text("people/worker_dates.sql"),
                                                     {"tenant_id": tenant_id}).fetchall()}
    transferring = [w.employee_id for w in workers
                    if job_held(dates.get(w.employee_id, (None,) * 7)[4], today=today)]
    prior_jobs = {row[0]: row[1:] for row in conn.execute(
        sql_text("people/prior_jobs.sql"), {"tenant_id": tenant_id, "employee_ids": transferring}).fetchall()
    } if transferring else {}
    result: list[Worker] = []
    held: list[tuple[str, str, Any]] = []
    kept: dict[str, tuple[Any, ...]] = {}  # employee_id -> (status, department, title, manager, location, version)
    for worker in workers:
        hire, termination, rehire, status_date, job_date, location, version = dates.get(
            worker.employee_id, (None,) * 7)
        effective = effective_status(worker.employment_status, today=today, hire_date=hire,
                                     termination_date=termination, rehire_date=rehire,
                                     lookahead_days=guards.lookahead_days, status_effective_date=status_date)
        now_worker = replace(worker, employment_status=effective.status) \
            if effective.status != worker.employment_status else worker
        if effective.held:
            held.append((worker.employee_id, effective.held, effective.effective_date))
        prior = prior_jobs.get(worker.employee_id)
        if prior is not None:
            # The transfer waits for its date: the LMS keeps the previous job until then.
            held.append((worker.employee_id, "transfer", job_date))
            now_worker = replace(now_worker, department=prior[0], job_title=prior[1], manager_id=prior[2])
            location = prior[3]
        if effective.held or prior is not None:
            kept[worker.employee_id] = (now_worker.employment_status, now_worker.department, now_worker.job_title,
                                        now_worker.manager_id, location, version)
        result.append(now_worker)
    if held:
        conn.execute(sql_text("people/record_held_changes.sql"),
                     {"tenant_id": tenant_id, "employee_ids": [h[0] for h in held],
                      "changes": [h[1] for h in held], "effective_dates": [h[2] for h in held]})
        log.info("tenant %s: %d effective-dated change(s) held until their date (first: %s %s on %s)",
                 tenant_id, len(held), *held[0][:2], held[0][2])
    looked_at = [w.employee_id for w in workers]
    conn.execute(sql_text("people/close_held_changes.sql"),
                 {"tenant_id": tenant_id, "looked_at": looked_at, "still_held": [f"{h[0]}:{h[1]}" for h in held]})
    conn.execute(sql_text("people/record_worker_effective.sql"), {
        "tenant_id": tenant_id, "looked_at": looked_at, "employee_ids": list(kept),
        **{name: [k[i] for k in kept.values()] for i, name in enumerate(
            ("statuses", "departments", "job_titles", "manager_ids", "locations", "versions"))}})
    conn.commit()
    return result, [h[0] for h in held]


def _apply_brake(conn: psycopg.Connection, braking: Any, report: ProvisionReport, workers: list[Worker],
                 lms: dict[str, dict[str, Any]], guards: ProvisioningGuards, deactivate_on_leave: bool,
                 dag_run_id: str | None, *, enabled: bool) -> set[str]:
    """The employee ids whose deactivation this run must not send (staged, pending or rejected)."""
    deactivations: list[Any] = []
    for worker in workers:
        existing = lms.get(worker.employee_id)
        if existing is None or not scim_bool(existing.get("active")):
            continue
        if should_be_active(worker.employment_status, deactivate_on_leave=deactivate_on_leave):
            continue
        target = desired_user(worker, active=False, manager_scim_id=_scim_id(lms, worker.manager_id))
        deactivations.append(braking.StagedChange(worker.employee_id, existing.get("id"), "deactivate", target,
                                                  state_hash(target)))
    if not deactivations or not enabled:
        return set()
    rejected = braking.parked_targets(conn, report.tenant_id)
    parked = {c.employee_id for c in deactivations if (c.employee_id, c.target_hash) in rejected}
    report.parked = len(parked)
    open_changes = [c for c in deactivations if c.employee_id not in parked]
    pending = braking.pending_change_set(conn, report.tenant_id)
    if pending is not None:
        # One decision at a time: nothing is deactivated until the pending set is decided.
        report.awaiting_approval = len(open_changes)
        conn.commit()
        log.warning("tenant %s: change set %s awaits a decision; %d deactivation(s) wait with it",
                    report.tenant_id, pending, len(open_changes))
        return parked | {c.employee_id for c in open_changes}
    population = sum(1 for u in lms.values() if scim_bool(u.get("active")))
    if not guards.brake.trips(len(open_changes), population):
        conn.commit()
        return parked
    report.change_set_id = braking.stage_change_set(conn, tenant_id=report.tenant_id, changes=open_changes,
                                                    population=population, brake=guards.brake, dag_run_id=dag_run_id)
    conn.commit()
    report.awaiting_approval = len(open_changes)
    log.warning("tenant %s: %d of %d active accounts would be deactivated: over the brake %s; staged as change "
                "set %s for approval", report.tenant_id, len(open_changes), population, guards.brake.as_dict(),
                report.change_set_id)
    return parked | {c.employee_id for c in open_changes}


def _note_skipped_quarantine(conn: psycopg.Connection, tenant_id: str, in_force: Any) -> None:
    log.error("tenant %s: SCIM target quarantined since %s (%s); skipped until %s. Release: python -m "
              "credsync.people.budget release --tenant %s --by <you> (docs/runbook.md)", tenant_id,
              in_force.quarantined_at, in_force.reason, in_force.next_attempt_at, tenant_id)


def currently_inactive(conn: psycopg.Connection, tenant_id: str, employee_ids: list[str], *,
                       deactivate_on_leave: bool = True, now: datetime | None = None) -> set[str]:
    """Which of ``employee_ids`` core wants inactive in the LMS today (an approval's staleness check)."""
    from credsync.people import budget
    from credsync.people.guards import load_guards

    workers, _held = _effective_workers(conn, tenant_id, _load_workers(conn, tenant_id, employee_ids),
                                        load_guards(tenant_id), now or budget.utcnow())
    return {w.employee_id for w in workers
            if not should_be_active(w.employment_status, deactivate_on_leave=deactivate_on_leave)}


def replace_staged(scim: ScimClient, existing: dict[str, Any], target: dict[str, Any]) -> dict[str, Any]:
    """PUT a staged resource as it was staged (If-Match with the account's current version)."""
    return _replace(scim, existing, target)


def record_applied(conn: psycopg.Connection, tenant_id: str, employee_id: str, resource: dict[str, Any],
                   action: str, detail: str, dag_run_id: str | None) -> None:
    """core.learners and the SCIM action of an applied staged change, committed together."""
    _upsert_learner(conn, tenant_id, employee_id, resource)
    _record_action(conn, tenant_id, employee_id, resource["id"], action, "ok", None, detail, dag_run_id)
    conn.commit()


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
        was_active = scim_bool(existing.get("active"))
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
              "user_name": user.get("userName"), "active": scim_bool(user.get("active")),
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
