"""The demo's bad day: the sandboxes misbehave, on-call resolves it, the state is clean again.

After the clean run, :func:`run_bad_day` uses the sandboxes' own fault and
admin switches (``sandbox/faults.py``, the HRIS/LRS admin endpoints, SCIM) to
cause one case of each failure class credsync handles:

- **poisoned record**: the LMS sends a statement with a NUL in it (an LRS takes
  it, it is valid JSON) beside a good one -> quarantined with rule and reason,
  the good one loads;
- **mass termination**: the HRIS export marks most of globex terminated
  (webhooks off, a broken feed) -> the gate refuses globex's batch (``mass_termination``);
- **registry outage**: the registry refuses every certificate write (final
  4xx) -> the new credential's submission is dead-lettered;
- **seeded drift**: an acme LMS account is switched inactive behind credsync's
  back -> reconciliation finds ``learner_active_mismatch`` and re-queues it.

Each is then resolved the way docs/runbook.md has on-call do it, through the
same DAG runs a person triggers (park params on ``hris_delta_export``,
``dlq_replay``, the pipeline catching up), and the summary shows the state
afterwards: nothing open, nothing duplicated.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from credsync_dev.localenv.pipeline import PIPELINE

if TYPE_CHECKING:
    from credsync_dev.localenv.pipeline import DagRunResult, DemoEnvironment

POISON_TENANT = "acme"  # poisoned statement, registry dead letter, drifted LMS account
MASS_TENANT = "globex"  # the mass termination
# The gate refuses a delta terminating more than 50 % (include/quality/hris_workers.yaml): a broken
# feed. A smaller real wave (say 40 %) loads and stops at the provisioning brake instead.
TERMINATION_SHARE = 0.6
COURSE = "CPR-101"  # credential rule CPR-AED (include/mappings/credential_rules.csv), pass mark 80
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
WORKER_FIELDS = ("employee_id", "source_system", "name", "emails", "employment", "compensation")
# A national workforce's fields (globex's HRIS: sandbox.synth.workforce), restored with the rest when present.
NATIONAL_FIELDS = ("national_id", "name_ar")
# Writes refused for the outage's duration, reads (listing, verification) still answered. A 4xx is
# a final answer, so the push dead-letters instead of retrying into the next run.
OUTAGE = {"error_rate": 1.0, "error_status": 422, "methods": ["POST"], "paths": ["/v1/certificates"]}
PARK_NOTE = "INC-demo: HRIS export marked most of globex terminated; HR confirms a bug"


@dataclass
class BadDay:
    """What was broken, what credsync did about it, and how it was resolved (JSON for the summary)."""

    started_at: str = ""
    poisoned_statement: str = ""
    corrected_statement: str = ""
    good_statement: str = ""
    completion_worker: str = ""
    poison_worker: str = ""
    mass_terminated: list[str] = field(default_factory=list)
    mass_status_before: dict[str, int] = field(default_factory=dict)  # their employment status in core
    drifted_worker: str = ""
    drifted_scim_id: str = ""
    seen: dict[str, Any] = field(default_factory=dict)
    resolved: dict[str, Any] = field(default_factory=dict)
    dags: list[dict[str, Any]] = field(default_factory=list)
    # The HRIS records before the bogus termination, for the HRIS team's correction; not reported.
    hris_backup: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("hris_backup")
        return data


def run_bad_day(demo: DemoEnvironment, conn: Any) -> BadDay:
    """Break the sandboxes, run the day, resolve as on-call, run again; returns what happened.

    ``conn`` is an autocommit warehouse connection (read only here).
    """
    day = BadDay(started_at=datetime.now(UTC).isoformat())
    say = demo.say
    say("\nbad day: the sandboxes misbehave (a poisoned LMS statement, a mass termination in the HRIS, "
        "a registry outage, an LMS account switched off behind credsync's back)")
    _poison_the_lms(demo, conn, day)
    _mass_terminate(demo, conn, day)
    _drift_an_lms_account(demo, conn, day)
    _registry(demo, "PUT", OUTAGE)

    # The hourly export: globex's batch is refused by the gate; acme's goes through.
    export = demo.run_dags(["hris_delta_export"], log_name="bad-day-export")
    day.dags += [_result(r, expected="failed") for r in export]
    day.seen["mass_termination"] = _mass_termination_seen(demo, conn, day, export)

    # On-call, mass termination: HR confirms an export bug. Park the bogus terminations so the batch
    # merges without them (runbook "A rejected HRIS batch", step 2: the DAG's park params) ...
    batch_id = day.seen["mass_termination"]["batch_id"]
    park = {"park_tenant": MASS_TENANT, "park_batch_id": batch_id, "park_records": day.mass_terminated,
            "park_note": PARK_NOTE}
    parked = demo.run_dags([("hris_delta_export", park)], log_name="bad-day-park")
    day.dags += [_result(r) for r in parked]
    # ... and the HRIS team corrects the records at the source: they come back with a newer
    # updated_at through the next export, as the workers core still knows.
    _restore_workers(demo, day)

    # The rest of the day: the corrected workers exported, the learning pull with the poisoned
    # statement, issuance and a push into the outage, write-back, reconciliation.
    rest = demo.run_dags([d for d in PIPELINE if d != "scim_provisioning"], log_name="bad-day-rest")
    day.dags += [_result(r) for r in rest]
    day.seen.update(_seen(conn, day))

    # On-call, the rest: the registry is back -> replay its dead letters; the LMS resends the
    # poisoned statement corrected under a new id; provisioning re-sends the learner
    # reconciliation re-queued; the next runs catch up and reconciliation confirms.
    _registry(demo, "DELETE")
    _send_corrected_statement(demo, day)
    replay = {"tenant": POISON_TENANT, "source": "registry", "reason": "registry_rejected_%", "dry_run": False}
    fix = demo.run_dags([("dlq_replay", replay), *PIPELINE], log_name="bad-day-resolved")
    day.dags += [_result(r) for r in fix]
    day.resolved = _resolved(conn, day)
    return day


def commands(day: BadDay) -> dict[str, list[str]]:
    """Per failure class: what on-call runs (UI action or command) to resolve it, as the runbook has it."""
    seen = day.seen
    batch = seen.get("mass_termination", {}).get("batch_id", "<batch id>")
    records = json.dumps(day.mass_terminated[:3] + (["..."] if len(day.mass_terminated) > 3 else []))
    return {
        "poisoned_record": [
            "nothing is blocked: the statement is quarantined, the rest loaded (runbook: Quarantined learning records)",
            "SELECT record_key, rule, reason FROM audit.quarantine WHERE record_key = "
            f"'{day.poisoned_statement}';",
            "fix at the source: the LMS resends it corrected under a new statement id; the next "
            "lms_completion_pull loads it",
        ],
        "mass_termination": [
            "runbook: A rejected HRIS batch -> confirm with HR, then park the named records and continue:",
            "UI: Trigger hris_delta_export with park_tenant=globex, park_batch_id=" + batch
            + ", park_records=" + records + ", park_note='INC-…'",
            f"  or: python -m credsync.people.park --url \"$CREDSYNC_DATABASE_URL\" --tenant globex --batch {batch} "
            "--record <employee_id> … --by \"$USER\" --note 'INC-…', then clear globex's export group",
            "and have the HRIS correct the records (they come back with a newer updated_at)",
        ],
        "registry_outage": [
            "when the registry answers again (runbook: Rerun, backfill, replay):",
            "airflow dags trigger dlq_replay --conf '{\"tenant\": \"acme\", \"source\": \"registry\", "
            "\"reason\": \"registry_rejected_%\", \"dry_run\": true}'   (preview)",
            "airflow dags trigger dlq_replay --conf '{\"tenant\": \"acme\", \"source\": \"registry\", "
            "\"reason\": \"registry_rejected_%\", \"dry_run\": false}'",
        ],
        "seeded_drift": [
            "runbook: Reconciliation -> learner_active_mismatch is auto-fixed: the learner is re-queued;",
            "the next scim_provisioning run re-sends it, the next reconciliation resolves the finding",
            "SELECT finding_type, entity_key, action, resolved_at FROM recon.findings WHERE tenant_id = 'acme' "
            "ORDER BY finding_id DESC LIMIT 5;",
        ],
    }


# -- breaking things ------------------------------------------------------------------


def _poison_the_lms(demo: DemoEnvironment, conn: Any, day: BadDay) -> None:
    """Two CPR passes for acme workers without that credential: one with a NUL in it, one good."""
    first, second = [r[0] for r in conn.execute(
        """
        SELECT w.employee_id FROM core.workers w
        JOIN core.learners l ON l.tenant_id = w.tenant_id AND l.employee_id = w.employee_id AND l.active
        WHERE w.tenant_id = %s AND w.employment_status = 'active'
          AND NOT EXISTS (SELECT 1 FROM core.credentials c WHERE c.tenant_id = w.tenant_id
                          AND c.employee_id = w.employee_id AND c.credential_type = 'cpr_aed')
          AND NOT EXISTS (SELECT 1 FROM core.workers r WHERE r.tenant_id = w.tenant_id
                          AND r.manager_id = w.employee_id)
        ORDER BY md5(w.employee_id || %s) LIMIT 2
        """, (POISON_TENANT, day.started_at)).fetchall()]
    day.poison_worker, day.completion_worker = first, second
    day.poisoned_statement, day.good_statement = str(uuid.uuid4()), str(uuid.uuid4())
    poisoned = _cpr_statement(day.poisoned_statement, first, title="CPR\u0000 & AED")
    good = _cpr_statement(day.good_statement, second)
    _lrs_inject(demo, [poisoned, good])


def _send_corrected_statement(demo: DemoEnvironment, day: BadDay) -> None:
    day.corrected_statement = str(uuid.uuid4())
    _lrs_inject(demo, [_cpr_statement(day.corrected_statement, day.poison_worker)])


def _cpr_statement(statement_id: str, employee_id: str, title: str = "CPR & AED") -> dict[str, Any]:
    from sandbox.synth.catalog import activity_id, lms_home_page

    when = datetime.now(UTC) - timedelta(minutes=5)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    return {
        "id": statement_id,
        "actor": {"objectType": "Agent", "account": {"homePage": lms_home_page(POISON_TENANT), "name": employee_id}},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/passed", "display": {"en-US": "passed"}},
        "object": {"objectType": "Activity", "id": activity_id(POISON_TENANT, COURSE),
                   "definition": {"name": {"en-US": title}, "type": "http://adlnet.gov/expapi/activities/course"}},
        "result": {"completion": True, "success": True, "score": {"raw": 92, "min": 0, "max": 100}},
        "timestamp": stamp,
        "version": "1.0.0",
    }


def _lrs_inject(demo: DemoEnvironment, statements: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{demo.sandboxes.url('lrs')}/admin/{POISON_TENANT}/statements", json=statements,
                          timeout=30)
    response.raise_for_status()


def _mass_terminate(demo: DemoEnvironment, conn: Any, day: BadDay) -> None:
    current = conn.execute(
        "SELECT employee_id, employment_status FROM core.workers WHERE tenant_id = %s "
        "AND employment_status IN ('active', 'leave') ORDER BY md5(employee_id || %s)",
        (MASS_TENANT, day.started_at)).fetchall()
    chosen = current[: int(len(current) * TERMINATION_SHARE) + 1]
    day.mass_terminated = sorted(employee_id for employee_id, _ in chosen)
    for _, status in chosen:
        day.mass_status_before[status] = day.mass_status_before.get(status, 0) + 1
    admin = demo.sandboxes.admin("hris")
    token = json.loads(demo.secrets["SANDBOX_HRIS_TOKENS"])[MASS_TENANT]
    backup: dict[str, dict[str, Any]] = {}
    with httpx.Client(timeout=30) as client:
        for employee_id in day.mass_terminated:
            worker = client.get(f"{demo.sandboxes.url('hris')}/api/v1/tenants/{MASS_TENANT}/workers/{employee_id}",
                                headers={"Authorization": f"Bearer {token}"})
            worker.raise_for_status()
            held = worker.json()
            backup[employee_id] = {k: held[k] for k in (*WORKER_FIELDS, *NATIONAL_FIELDS) if k in held}
            client.post(f"{admin}/tenants/{MASS_TENANT}/workers/{employee_id}/terminate",
                        json={"webhook": False}).raise_for_status()
    day.hris_backup = backup


def _restore_workers(demo: DemoEnvironment, day: BadDay) -> None:
    admin = demo.sandboxes.admin("hris")
    with httpx.Client(timeout=30) as client:
        for employee_id, worker in day.hris_backup.items():
            client.put(f"{admin}/tenants/{MASS_TENANT}/workers/{employee_id}", json=worker).raise_for_status()


def _drift_an_lms_account(demo: DemoEnvironment, conn: Any, day: BadDay) -> None:
    employee_id, scim_id = conn.execute(
        """
        SELECT l.employee_id, l.scim_id FROM core.learners l
        JOIN core.workers w ON w.tenant_id = l.tenant_id AND w.employee_id = l.employee_id
        WHERE l.tenant_id = %s AND l.active AND w.employment_status = 'active' AND l.employee_id <> ALL(%s)
          AND NOT EXISTS (SELECT 1 FROM core.workers r WHERE r.tenant_id = w.tenant_id
                          AND r.manager_id = w.employee_id)
        ORDER BY md5(l.employee_id || %s) LIMIT 1
        """, (POISON_TENANT, [day.poison_worker, day.completion_worker], day.started_at)).fetchone()
    day.drifted_worker, day.drifted_scim_id = employee_id, scim_id
    response = httpx.patch(
        f"{demo.sandboxes.url('scim')}/{POISON_TENANT}/v2/Users/{scim_id}",
        headers={"Authorization": f"Bearer {demo.sandboxes.env['SANDBOX_SCIM_TOKEN']}",
                 "Content-Type": "application/scim+json"},
        json={"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False}]},
        timeout=30)
    response.raise_for_status()


def _registry(demo: DemoEnvironment, method: str, body: dict[str, Any] | None = None) -> None:
    response = httpx.request(method, f"{demo.sandboxes.url('registry')}/admin/faults", json=body, timeout=30)
    response.raise_for_status()


# -- what on-call sees ------------------------------------------------------------------


def _mass_termination_seen(demo: DemoEnvironment, conn: Any, day: BadDay,
                           export: list[DagRunResult]) -> dict[str, Any]:
    row = conn.execute(
        "SELECT batch_id::text, status FROM audit.batches WHERE tenant_id = %s AND source = 'hris' "
        "AND created_at >= %s ORDER BY created_at DESC LIMIT 1", (MASS_TENANT, day.started_at)).fetchone()
    verdict = ""
    if export:
        # The gate's verdict as the task log has it (the line naming the rule; with the tenant if it says so).
        # The gate's verdict as the task log has it: the line naming tenant and rule, and the rule's counts.
        lines = [line for line in export[0].log.read_text(errors="replace").splitlines() if "mass_termination" in line]
        headline = next((line for line in lines if MASS_TENANT in line), lines[0] if lines else "")
        headline = headline[headline.index("GX gate"):] if "GX gate" in headline else headline
        counts = next((line for line in lines if line.lstrip().startswith("- mass_termination")), "")
        verdict = " ".join(dict.fromkeys(part.strip() for part in (headline, counts) if part))
    return {"batch_id": row[0] if row else None, "status": row[1] if row else None,
            "dag_state": export[0].state if export else None, "terminated": len(day.mass_terminated),
            "verdict": verdict[:800]}


def _seen(conn: Any, day: BadDay) -> dict[str, Any]:
    quarantine = conn.execute(
        "SELECT q.rule, q.reason FROM audit.quarantine q JOIN audit.batches b USING (batch_id) "
        "WHERE b.tenant_id = %s AND q.record_key = %s", (POISON_TENANT, day.poisoned_statement)).fetchall()
    good = conn.execute("SELECT count(*) FROM core.completions WHERE tenant_id = %s AND source_id = %s",
                        (POISON_TENANT, day.good_statement)).fetchone()[0]
    letters = conn.execute(
        "SELECT entity_key, reason, status FROM audit.dead_letters WHERE tenant_id = %s AND source = 'registry' "
        "AND created_at >= %s ORDER BY dead_letter_id", (POISON_TENANT, day.started_at)).fetchall()
    findings = conn.execute(
        "SELECT finding_type, entity_key, action FROM recon.findings WHERE tenant_id = %s AND resolved_at IS NULL "
        "ORDER BY finding_id", (POISON_TENANT,)).fetchall()
    parked = conn.execute(
        "SELECT count(*) FROM audit.quarantine WHERE batch_id = %s::uuid AND parked_at IS NOT NULL",
        (day.seen["mass_termination"]["batch_id"],)).fetchone()[0] if day.seen["mass_termination"]["batch_id"] else 0
    return {
        "poisoned_record": {"quarantined": [{"rule": r, "reason": reason[:300]} for r, reason in quarantine],
                            "good_statement_loaded": good == 1},
        "registry_outage": {"dead_letters": [{"entity_key": k, "reason": r, "status": s} for k, r, s in letters]},
        "seeded_drift": {"findings": [{"finding_type": t, "entity_key": k, "action": a} for t, k, a in findings]},
        "mass_termination_parked": parked,
    }


def _resolved(conn: Any, day: BadDay) -> dict[str, Any]:
    letters = conn.execute(
        "SELECT d.status, s.state FROM audit.dead_letters d "
        "LEFT JOIN core.registry_submissions s ON s.tenant_id = d.tenant_id AND s.idempotency_key = d.entity_key "
        "WHERE d.tenant_id = %s AND d.source = 'registry' AND d.created_at >= %s",
        (POISON_TENANT, day.started_at)).fetchall()
    drift = conn.execute(
        "SELECT bool_and(resolved_at IS NOT NULL), count(*) FROM recon.findings WHERE tenant_id = %s "
        "AND entity_key = %s AND finding_type = 'learner_active_mismatch'",
        (POISON_TENANT, day.drifted_worker)).fetchone()
    corrected = conn.execute("SELECT count(*) FROM core.completions WHERE tenant_id = %s AND source_id = %s",
                             (POISON_TENANT, day.corrected_statement)).fetchone()[0]
    credential = conn.execute(
        "SELECT count(*) FROM core.credentials WHERE tenant_id = %s AND employee_id = %s "
        "AND credential_type = 'cpr_aed' AND status = 'active'", (POISON_TENANT, day.poison_worker)).fetchone()[0]
    workers = conn.execute(
        "SELECT employment_status, count(*) FROM core.workers WHERE tenant_id = %s AND employee_id = ANY(%s) "
        "GROUP BY 1", (MASS_TENANT, day.mass_terminated)).fetchall()
    return {
        "registry_outage": {"letters": [{"status": s, "submission": st} for s, st in letters]},
        "seeded_drift": {"resolved": bool(drift[0]) and drift[1] > 0},
        "poisoned_record": {"corrected_loaded": corrected == 1, "credential_issued": credential == 1},
        "mass_termination": {"core_status": dict(workers)},
    }


def _result(result: DagRunResult, expected: str = "success") -> dict[str, Any]:
    return {**result.as_dict(), "expected": expected}
