"""The provisioning guards' DAG steps as plain functions; ``scim_provisioning`` and
``scim_change_approval`` tasks (and tests) call exactly these. Each takes the warehouse URL and
returns a small dict or list for XCom (ids and counts, never staged resources or personal data
beyond employee ids)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

log = logging.getLogger(__name__)
APPROVAL_DAG_ID = "scim_change_approval"
# How long a staged change set waits for a human; then the approval task fails (Airflow's HITL
# timeout, no default answer) and the set expires: nothing is applied, the next run asks again.
APPROVAL_TIMEOUT = timedelta(hours=24)


class NewQuarantine(RuntimeError):
    """A tenant's SCIM target was quarantined in this run: fail the guard task so on-call is alerted."""


def release_quarantines(warehouse_url: str, tenant_ids: list[str], run_id: str | None) -> list[str]:
    """The ``release_quarantine`` param: lift each named tenant's quarantine before provisioning."""
    from credsync.people.budget import release

    by = f"dag_run:{run_id}" if run_id else "dag_run"
    return [t for t in (str(t).strip() for t in tenant_ids) if t and release(warehouse_url, tenant_id=t, by=by)]


def approval_trigger(warehouse_url: str, tenant_id: str, run_id: str | None, kind: str = "users",
                     *, any_run: bool = False) -> dict[str, Any] | None:
    """The ``scim_change_approval`` trigger for the pending change set of ``kind`` this run staged for the
    tenant (``any_run``: whichever run staged it); None: none.

    The approval run id is derived from the change set, so a cleared task (or a later run asking
    for the same set) never asks twice.
    """
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        row = conn.execute(
            "SELECT change_set_id::text FROM core.staged_change_sets WHERE tenant_id = %s AND kind = %s"
            " AND (%s OR dag_run_id = %s) AND status = 'pending'", (tenant_id, kind, any_run, run_id)).fetchone()
    if row is None:
        return None
    return {"trigger_run_id": f"approval__{tenant_id}__{row[0]}",
            "conf": {"tenant_id": tenant_id, "change_set_id": row[0]}}


def guard_states(warehouse_url: str, tenant_ids: list[str], run_id: str | None) -> dict[str, Any]:
    """Per tenant: quarantined (and whether this run tripped it), pending approvals, held changes.

    Raises :class:`NewQuarantine` when this run quarantined a target (the alert); a quarantine
    that merely continues is logged, not re-alerted every hour.
    """
    from credsync.warehouse import connect

    states: dict[str, Any] = {}
    with connect(warehouse_url) as conn:
        for tenant in tenant_ids:
            quarantine = conn.execute(
                "SELECT reason, next_attempt_at::text, strikes, dag_run_id FROM core.provisioning_quarantine"
                " WHERE tenant_id = %s AND released_at IS NULL", (tenant,)).fetchone()
            pending = conn.execute(
                "SELECT change_set_id::text, changes, kind FROM core.staged_change_sets WHERE tenant_id = %s"
                " AND status = 'pending' ORDER BY kind DESC", (tenant,)).fetchone()
            held = conn.execute("SELECT count(*), min(effective_date)::text FROM core.held_changes"
                                " WHERE tenant_id = %s AND applied_at IS NULL", (tenant,)).fetchone()
            states[tenant] = {
                "state": "quarantined" if quarantine else "awaiting_approval" if pending else "provisioned",
                "quarantine": None if quarantine is None else {
                    "reason": quarantine[0], "next_attempt_at": quarantine[1], "strikes": quarantine[2],
                    "tripped_in_this_run": run_id is not None and quarantine[3] == run_id},
                "pending_change_set": None if pending is None else {"change_set_id": pending[0],
                                                                    "changes": pending[1], "kind": pending[2]},
                "held_changes": held[0], "next_effective_date": held[1],
            }
    for tenant, state in states.items():
        log.info("tenant %s: %s", tenant, state)
    tripped = [t for t, s in states.items() if s["quarantine"] and s["quarantine"]["tripped_in_this_run"]]
    if tripped:
        raise NewQuarantine(
            "SCIM target quarantined in this run for " + ", ".join(
                f"{t} ({states[t]['quarantine']['reason']})" for t in tripped)
            + "; the other tenants were provisioned. Runbook: docs/runbook.md, \"A quarantined SCIM target\".")
    return states


def approval_request(warehouse_url: str, tenant_id: str, change_set_id: str) -> dict[str, str]:
    """Subject and body (the staged list) for the Required Actions page; fails if the set is not pending."""
    from credsync.people import brake
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        status = brake.summary(conn, tenant_id, change_set_id).get("status")
        if status != "pending":
            raise ValueError(f"change set {change_set_id} of tenant {tenant_id} is {status or 'unknown'}, "
                             "not pending: nothing to approve")
        return brake.approval_request(conn, tenant_id, change_set_id)


def decide(warehouse_url: str, scim: Any, *, tenant_id: str, change_set_id: str, hitl_result: dict | None,
           run_id: str | None, apply_groups: Any = None) -> dict[str, Any]:
    """Carry out the human's answer (None: the approval timed out) on the staged set."""
    from credsync.people import brake
    from credsync.warehouse import connect

    decision = brake.decision_from_hitl(change_set_id, hitl_result)
    with connect(warehouse_url) as conn:
        result = brake.decide(conn, scim, tenant_id=tenant_id, decision=decision, dag_run_id=run_id,
                              apply_groups=apply_groups)
    log.warning("tenant %s: change set %s: %s", tenant_id, change_set_id, result)
    return result
