"""A human's answer on one eligibility case, and the HRIS write-back of a granted one.

``career_path_approval``'s tasks (and tests) call exactly these. Plain Python: no Airflow; the HRIS
client is passed in (:class:`credsync.hooks.hris.HrisClient`).

- Approve: the case is approved (who, when), the grant is recorded in ``core.career_eligibility``
  (what the marketplace sync reads) and the eligibility written to the HRIS profile once.
- Reject: recorded with the reason; the same rule version never asks again.
- No answer in time: the case expires; the next evaluation reopens it and asks again.
A case that is no longer pending (withdrawn meanwhile, decided already) or an answer to an earlier
ask changes nothing. Nothing is promoted or paid: the HRIS field says *eligible*, no more.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

    from credsync.hooks.hris import HrisClient

log = logging.getLogger(__name__)
APPROVAL_DAG_ID = "career_path_approval"
APPROVE, REJECT = "Approve", "Reject"
# How long a case waits for its approver; then the approval task fails (no default answer) and the
# case expires; the next evaluation (daily at the latest) asks again.
APPROVAL_TIMEOUT = timedelta(hours=72)
NO_REASON = "(no reason given)"
DEAD_LETTER_SOURCE = "career_eligibility"


class CaseNotPending(LookupError):
    """The case is not waiting for this ask (withdrawn, decided, expired, or a later ask is open)."""


@dataclass(frozen=True)
class Answer:
    approved: bool | None  # None: no answer in time
    by: str
    reason: str | None = None


def answer_from_hitl(result: dict[str, Any] | None) -> Answer:
    """An :class:`Answer` from the HITL operator's XCom (None or no option chosen: timed out)."""
    if not result or not result.get("chosen_options"):
        return Answer(None, "timeout")
    user = result.get("responded_by_user") or {}
    by = str(user.get("name") or user.get("id") or "unknown") if isinstance(user, dict) else str(user)
    reason = str((result.get("params_input") or {}).get("reason") or "").strip()
    return Answer(result["chosen_options"][0] == APPROVE, by, reason or None)


def _case(conn: psycopg.Connection, tenant_id: str, case_id: str, *, lock: bool = False) -> dict[str, Any] | None:
    row = conn.execute(
        "SELECT state, ask, employee_id, rule_id, rule_version, eligible_for, approver_kind, approver,"
        " credential_ids::text[], state_reason, hris_written_at FROM core.career_eligibility_cases"
        " WHERE tenant_id = %s AND case_id = %s" + (" FOR UPDATE" if lock else ""), (tenant_id, case_id)).fetchone()
    if row is None:
        return None
    keys = ("state", "ask", "employee_id", "rule_id", "rule_version", "eligible_for", "approver_kind", "approver",
            "credential_ids", "state_reason", "hris_written_at")
    return dict(zip(keys, row, strict=True))


def pending_case(warehouse_url: str, tenant_id: str, case_id: str, ask: int | None) -> dict[str, Any]:
    """The case if it is pending for ``ask`` (None: any); else :class:`CaseNotPending`."""
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        case = _case(conn, tenant_id, case_id)
    if case is None:
        raise CaseNotPending(f"no eligibility case {case_id} in tenant {tenant_id}")
    if case["state"] != "pending" or (ask is not None and int(ask) != case["ask"]):
        raise CaseNotPending(f"eligibility case {case_id} of tenant {tenant_id} is {case['state']} (ask "
                             f"{case['ask']}), not pending for ask {ask}: nothing to ask")
    return case


def approval_request(warehouse_url: str, tenant_id: str, case_id: str, ask: int | None,
                     respondents: tuple[str, ...] = ()) -> dict[str, Any]:
    """Subject and body for the Required Actions page (employee id and job, no other personal data)."""
    from credsync.warehouse import connect

    case = pending_case(warehouse_url, tenant_id, case_id, ask)
    with connect(warehouse_url) as conn:
        job = conn.execute("SELECT department, job_title FROM core.workers WHERE tenant_id = %s AND employee_id = %s",
                           (tenant_id, case["employee_id"])).fetchone() or (None, None)
        held = conn.execute(
            "SELECT credential_type, issue_date::text, coalesce(expiry_date::text, 'no expiry') FROM core.credentials"
            " WHERE tenant_id = %s AND credential_id = ANY(%s::uuid[]) ORDER BY credential_type",
            (tenant_id, case["credential_ids"])).fetchall()
    who = (f"their manager ({case['approver']}, HRIS manager_id)" if case["approver_kind"] == "manager"
           else f"HRBP group {case['approver']}")
    lines = [
        f"Case `{case_id}` (tenant `{tenant_id}`, ask {case['ask']}): worker **{case['employee_id']}**"
        f" ({job[1] or 'no job title'}, {job[0] or 'no department'}) meets career-path rule"
        f" **{case['rule_id']}** v{case['rule_version']}.",
        "",
        f"Approve to record them **eligible for {case['eligible_for']}** on their HRIS profile. This is"
        " eligibility only: nothing is promoted or paid. Reject with a reason: the rule is not asked again"
        " for this version.",
        "",
        f"Approver: {who}.",
        "",
        "| credential | issued | expires |",
        "|---|---|---|",
        *(f"| {t} | {i} | {e} |" for t, i, e in held),
    ]
    return {"tenant_id": tenant_id, "case_id": case_id, "ask": case["ask"],
            "subject": f"Career path: {case['employee_id']} eligible for {case['eligible_for']}?",
            "body": "\n".join(lines), "respondents": list(respondents)}


def _event(conn: psycopg.Connection, tenant_id: str, case_id: str, event: str, actor: str, reason: str | None,
           run_id: str | None) -> None:
    conn.execute("INSERT INTO core.career_eligibility_events (tenant_id, case_id, event, actor, reason, dag_run_id)"
                 " VALUES (%s, %s, %s, %s, %s, %s)", (tenant_id, case_id, event, actor, reason, run_id))


def decide(warehouse_url: str, hris: HrisClient | None, *, tenant_id: str, case_id: str, ask: int | None,
           hitl_result: dict[str, Any] | None, run_id: str | None,
           timeout: timedelta = APPROVAL_TIMEOUT) -> dict[str, Any]:
    """Carry out the answer (None: timed out) on the case; an approval is then written to the HRIS."""
    from credsync.audit import append_event
    from credsync.warehouse import connect

    answer = answer_from_hitl(hitl_result)
    with connect(warehouse_url) as conn:
        case = _case(conn, tenant_id, case_id, lock=True)
        if case is None:
            raise CaseNotPending(f"no eligibility case {case_id} in tenant {tenant_id}")
        stale = ask is not None and int(ask) != case["ask"]
        if case["state"] != "pending" or stale:
            conn.rollback()
            result = {"case_id": case_id, "state": case["state"], "already_decided": True,
                      "note": "an earlier ask" if stale else case["state_reason"]}
            if case["state"] == "approved" and case["hris_written_at"] is None and hris is not None:
                # A cleared decide after the HRIS failed: finish the write-back, nothing else.
                result["hris_written"] = write_pending(warehouse_url, hris, tenant_id, case_id=case_id)
            return result
        if answer.approved is None:
            hours = int(timeout.total_seconds() // 3600)
            state, reason = "expired", f"no decision within {hours} h (ask {case['ask']})"
            conn.execute("UPDATE core.career_eligibility_cases SET state = 'expired', state_reason = %s,"
                         " decision_run_id = %s, updated_at = now() WHERE tenant_id = %s AND case_id = %s",
                         (reason, run_id, tenant_id, case_id))
            _event(conn, tenant_id, case_id, "expired", "credsync", reason, run_id)
        elif answer.approved:
            state, reason = "approved", answer.reason
            conn.execute("UPDATE core.career_eligibility_cases SET state = 'approved', state_reason = %s,"
                         " decided_by = %s, decided_at = now(), decision_run_id = %s, updated_at = now()"
                         " WHERE tenant_id = %s AND case_id = %s", (reason, answer.by, run_id, tenant_id, case_id))
            conn.execute(
                "INSERT INTO core.career_eligibility (tenant_id, case_id, employee_id, eligible_for, rule_id,"
                " rule_version, granted_by, granted_at) SELECT tenant_id, case_id, employee_id, eligible_for,"
                " rule_id, rule_version, decided_by, decided_at FROM core.career_eligibility_cases"
                " WHERE tenant_id = %s AND case_id = %s ON CONFLICT DO NOTHING", (tenant_id, case_id))
            _event(conn, tenant_id, case_id, "approved", answer.by, reason, run_id)
        else:
            state, reason = "rejected", answer.reason or NO_REASON
            conn.execute("UPDATE core.career_eligibility_cases SET state = 'rejected', state_reason = %s,"
                         " decided_by = %s, decided_at = now(), decision_run_id = %s, updated_at = now()"
                         " WHERE tenant_id = %s AND case_id = %s", (reason, answer.by, run_id, tenant_id, case_id))
            _event(conn, tenant_id, case_id, "rejected", answer.by, reason, run_id)
        append_event(conn, tenant_id=tenant_id, event_type=f"career_eligibility_{state}",
                     entity_type="career_eligibility_case", entity_key=case_id,
                     detail={"rule_id": case["rule_id"], "rule_version": case["rule_version"],
                             "eligible_for": case["eligible_for"], "by": answer.by, "ask": case["ask"]})
        conn.commit()
    result: dict[str, Any] = {"case_id": case_id, "state": state, "by": answer.by, "already_decided": False}
    log.warning("tenant %s: eligibility case %s: %s", tenant_id, case_id, result)
    if state == "approved" and hris is not None:
        result["hris_written"] = write_pending(warehouse_url, hris, tenant_id, case_id=case_id)
    return result


def eligibility_path(tenant_id: str, employee_id: str, eligible_for: str) -> str:
    from credsync.hooks.hris import tenant_path

    return (f"{tenant_path(tenant_id)}/workers/{quote(employee_id, safe='')}/career-eligibility/"
            f"{quote(eligible_for, safe='')}")


class EligibilityWriteFailed(RuntimeError):
    """The HRIS refused an eligibility write-back; the case stays approved and unwritten (retried)."""


def write_pending(warehouse_url: str, hris: HrisClient, tenant_id: str, *, case_id: str | None = None) -> int:
    """PUT every approved, not yet written eligibility of the tenant (or just ``case_id``) to the HRIS.

    The body is built only from the case (decision time included), so a resend after a lost answer is
    identical and the HRIS records it once. A refusal is dead-lettered (source ``career_eligibility``,
    reason ``hris_<status>``, for on-call to see) while the case stays approved and unwritten: every
    run resends it, and the letter closes once the HRIS takes it. Returns how many the HRIS took;
    raises :class:`EligibilityWriteFailed` naming the refused ones after trying them all.
    """
    from credsync.audit import dead_letter
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        rows = conn.execute(sql_text("careers/write_pending.sql"), {"tenant_id": tenant_id, "case_id": case_id}
                            ).fetchall()
    written, refused = 0, []
    for cid, employee_id, eligible_for, rule_id, rule_version, by, decided_at, credential_ids in rows:
        body = {"status": "eligible", "rule_id": rule_id, "rule_version": rule_version, "case_id": cid,
                "approved_by": by, "approved_at": decided_at.isoformat(), "credential_ids": credential_ids}
        answer = hris.http.call("PUT", eligibility_path(tenant_id, employee_id, eligible_for), json=body)
        if answer.status not in (200, 201):
            refused.append(f"{cid} ({employee_id}): HTTP {answer.status} {str(answer.body)[:200]}")
            with connect(warehouse_url) as conn:
                dead_letter(conn, tenant_id=tenant_id, source=DEAD_LETTER_SOURCE, entity_key=cid,
                            reason=f"hris_{answer.status}", payload=body,
                            detail={"employee_id": employee_id, "eligible_for": eligible_for,
                                    "answer": str(answer.body)[:500]})
                conn.commit()
            continue
        with connect(warehouse_url) as conn:
            done = conn.execute("UPDATE core.career_eligibility_cases SET hris_written_at = now(), updated_at = now()"
                                " WHERE tenant_id = %s AND case_id = %s AND hris_written_at IS NULL RETURNING 1",
                                (tenant_id, cid)).fetchone()
            if done:
                conn.execute("UPDATE core.career_eligibility SET hris_written_at = now(), updated_at = now()"
                             " WHERE tenant_id = %s AND case_id = %s", (tenant_id, cid))
                _event(conn, tenant_id, cid, "hris_written", "credsync",
                       f"HRIS {answer.status} {'created' if answer.status == 201 else 'updated'}", None)
                conn.execute("UPDATE audit.dead_letters SET status = 'replayed', updated_at = now(),"
                             " replay_outcome = 'resolved: the HRIS took the eligibility' WHERE tenant_id = %s"
                             " AND source = %s AND entity_key = %s AND status = 'open'",
                             (tenant_id, DEAD_LETTER_SOURCE, cid))
            conn.commit()
        written += 1
    if refused:
        raise EligibilityWriteFailed(
            f"tenant {tenant_id}: the HRIS refused {len(refused)} eligibility write-back(s): " + "; ".join(refused)
            + ". They stay approved and are resent by the next career_path_eligibility run; runbook:"
            " docs/runbook.md, \"Career-path eligibility\".")
    return written
