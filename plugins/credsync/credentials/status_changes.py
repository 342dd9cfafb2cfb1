"""Status changes after issuance: revoke, suspend, unsuspend (by hand, or from HRIS leave), then republish.

A suspension is a hold that can be lifted (its bit in the issuer's ``suspension`` list is set while it
lasts); a revocation is final (its bit in the ``revocation`` list is never cleared, and migration 0015's
trigger refuses to move a credential out of ``revoked``). Every change is one audit event with its
reason. A :class:`StatusRequest` is checked whole (:func:`check_request`) before anything changes, so a
request that would undo a revocation is refused with nothing applied. Reruns change nothing: each
UPDATE skips credentials already in the asked-for state, and the publisher rewrites only lists whose
bits changed. Plain module (psycopg), no Airflow.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

    from credsync.credentials.issuers import Issuer

log = logging.getLogger(__name__)

ACTIONS = ("revoke", "suspend", "unsuspend")
MAX_REASON = 500


class StatusChangeRefused(ValueError):
    """A status change that must not happen (undoing a revocation, an unknown credential, no reason)."""


@dataclass(frozen=True)
class StatusRequest:
    """Credential ids per action, with the reason recorded for each change (a run's params)."""

    revoke: tuple[str, ...] = ()
    suspend: tuple[str, ...] = ()
    unsuspend: tuple[str, ...] = ()
    reason: str = ""

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> StatusRequest:
        def ids(key: str) -> tuple[str, ...]:
            value = params.get(key) or ()
            if isinstance(value, str):  # a single id typed into the trigger form
                value = [value]
            return tuple(dict.fromkeys(str(v).strip().lower() for v in value if str(v).strip()))

        return cls(revoke=ids("revoke"), suspend=ids("suspend"), unsuspend=ids("unsuspend"),
                   reason=str(params.get("reason") or "").strip())

    @property
    def empty(self) -> bool:
        return not (self.revoke or self.suspend or self.unsuspend)

    def ids(self) -> list[str]:
        return [*self.revoke, *self.suspend, *self.unsuspend]


@dataclass
class StatusResult:
    """What one tenant's status step changed (what the task returns to XCom)."""

    tenant_id: str
    revoked: int = 0
    suspended: int = 0
    unsuspended: int = 0
    leave_suspended: int = 0
    leave_unsuspended: int = 0
    # Held in the warehouse, but the signed credential names no suspension list: no verifier sees it.
    suspended_without_entry: list[str] = field(default_factory=list)
    published: dict[str, object] | None = None

    def as_counts(self) -> dict[str, object]:
        return {"tenant_id": self.tenant_id, "revoked": self.revoked, "suspended": self.suspended,
                "unsuspended": self.unsuspended, "leave_suspended": self.leave_suspended,
                "leave_unsuspended": self.leave_unsuspended,
                "suspended_without_entry": len(self.suspended_without_entry), "published": self.published}


def check_request(conn: psycopg.Connection, request: StatusRequest) -> dict[str, str]:
    """Refuse the whole request before anything changes; the tenant of each named credential.

    Refused: a change without a reason, an id that is not a UUID or not a credential, one credential
    under two actions, and suspending or unsuspending a revoked credential (revocation is final).
    """
    if request.empty:
        return {}
    if not request.reason:
        raise StatusChangeRefused("a status change needs a reason (param 'reason'): it is recorded in the audit log")
    if len(request.reason) > MAX_REASON:
        raise StatusChangeRefused(f"reason is longer than {MAX_REASON} characters")
    problems: list[str] = []
    for cid in request.ids():
        try:
            uuid.UUID(cid)
        except ValueError:
            problems.append(f"{cid!r} is not a credential id (a UUID)")
    seen: dict[str, str] = {}
    for action in ACTIONS:
        for cid in getattr(request, action):
            if cid in seen:
                problems.append(f"credential {cid} is asked to {seen[cid]} and to {action}: pick one")
            seen[cid] = action
    if problems:
        raise StatusChangeRefused("; ".join(problems))
    rows = conn.execute(sql_text("credentials/status/request_targets.sql"), {"ids": request.ids()}).fetchall()
    found = {row[0]: row for row in rows}
    for cid in request.ids():
        if cid not in found:
            problems.append(f"credential {cid} does not exist")
    for cid in (*request.suspend, *request.unsuspend):
        row = found.get(cid)
        if row is not None and row[2] == "revoked":
            action = "unsuspend" if cid in request.unsuspend else "suspend"
            problems.append(f"credential {cid} was revoked on {row[4]:%Y-%m-%d} ({row[3] or 'no reason recorded'}):"
                            f" revocation is final, it cannot be {action}ed; issue a new credential instead")
    if problems:
        raise StatusChangeRefused("; ".join(problems))
    return {cid: row[1] for cid, row in found.items()}


def apply_status_changes(conn: psycopg.Connection, tenant_id: str, request: StatusRequest, *,
                         run_id: str | None = None, sync_leave: bool = True) -> StatusResult:
    """Apply the request's changes for ``tenant_id``'s credentials and the HRIS leave holds; one commit."""
    result = StatusResult(tenant_id)
    with conn.transaction():  # the changes and their audit events, all or nothing
        _apply(conn, tenant_id, request, result, run_id=run_id, sync_leave=sync_leave)
    if not conn.autocommit:
        conn.commit()
    return result


def _apply(conn: psycopg.Connection, tenant_id: str, request: StatusRequest, result: StatusResult, *,
           run_id: str | None, sync_leave: bool) -> None:
    from credsync.audit import AuditEvent, append_events

    tenants = check_request(conn, request)
    mine = {cid for cid, tenant in tenants.items() if tenant == tenant_id}
    events: list[AuditEvent] = []

    def run(action: str, sql: str, ids: Iterable[str], reason: str, source: str) -> list[tuple]:
        rows = conn.execute(sql_text(f"credentials/status/{sql}.sql"),
                            {"tenant_id": tenant_id, "ids": list(ids), "reason": reason}).fetchall()
        events.extend(AuditEvent(f"credential.{action}", "credential", cid,
                                 {"reason": reason, "source": source, "employee_id": employee_id,
                                  "credential_type": ctype, "run_id": run_id})
                      for cid, employee_id, ctype in rows)
        return rows

    result.revoked = len(run("revoked", "revoke", [c for c in request.revoke if c in mine], request.reason, "manual"))
    suspended = run("suspended", "suspend", [c for c in request.suspend if c in mine], request.reason, "manual")
    result.suspended = len(suspended)
    result.unsuspended = len(run("unsuspended", "unsuspend", [c for c in request.unsuspend if c in mine],
                                 request.reason, "manual"))
    leave: list[tuple] = []
    if sync_leave:
        leave = run("suspended", "suspend_on_leave", (), "worker on leave (HRIS)", "hris_leave")
        result.leave_suspended = len(leave)
        result.leave_unsuspended = len(run("unsuspended", "unsuspend_on_return", (),
                                           "worker returned from leave (HRIS)", "hris_leave"))
    append_events(conn, tenant_id=tenant_id, events=events)
    held = [row[0] for row in (*suspended, *leave)]
    if held:
        result.suspended_without_entry = [row[0] for row in conn.execute(
            "SELECT c.credential_id::text FROM core.credentials c WHERE c.credential_id = ANY(%s::uuid[])"
            " AND NOT EXISTS (SELECT 1 FROM core.credential_status s WHERE s.credential_id = c.credential_id"
            " AND s.purpose = 'suspension')", (held,)).fetchall()]
        if result.suspended_without_entry:
            log.warning("tenant %s: %d suspended credential(s) were signed without a suspension entry, so"
                        " verifiers cannot see the hold: revoke them if that matters (docs/runbook.md, Suspending,"
                        " unsuspending or revoking a credential by hand); e.g. %s", tenant_id,
                        len(result.suspended_without_entry), result.suspended_without_entry[:5])


def update_status(conn: psycopg.Connection, tenant_id: str, request: StatusRequest, *,
                  issuer: Issuer | None = None, run_id: str | None = None,
                  publish: bool | None = None) -> StatusResult:
    """:func:`apply_status_changes`, then republish the issuer's lists whose bits changed.

    ``issuer`` defaults to the tenant's issuer with the signing key connection's key (registered as
    issuance registers it: the lists are signed with it). ``publish`` defaults to: when a did-web store
    is configured. Expiry needs no bit (``validUntil`` says it); it is covered because every change this
    run made before (expired, revoked by issuance) is published here too when it changed a list.
    """
    from credsync.credentials.publish import did_web_root, publish_issuer

    result = apply_status_changes(conn, tenant_id, request, run_id=run_id)
    if publish if publish is not None else bool(did_web_root()):
        if issuer is None:
            from credsync.credentials.issuer_store import register_key
            from credsync.credentials.issuers import Issuer
            from credsync.credentials.keys import signing_key_from_connection

            issuer = Issuer.for_tenant(tenant_id, signing_key_from_connection())
            with conn.cursor() as cur:
                register_key(cur, issuer)
            conn.commit()
        result.published = publish_issuer(conn, issuer).as_counts()
    log.info("tenant %s status changes: %s", tenant_id, result.as_counts())
    return result
