"""Reconciliation against real Postgres: seeded drift is found, fixed, resolved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from credsync_dev import synthetic

from .support import (
    TYPES,
    credential_id,
    employee,
    load_snapshots,
    open_findings,
    provision_requeued_learners,
    replay_registry_dead_letters,
    run,
)

AS_OF = datetime(2025, 6, 2, 6, 0, tzinfo=UTC)


def test_clean_tenant_reports_zero_findings_and_zero_drift(conn, tenant):
    outcome = run(conn, tenant, load_snapshots(conn, tenant), AS_OF)

    assert outcome.findings_open == 0
    assert outcome.findings_new == 0
    assert set(outcome.drift.values()) == {0.0}
    assert outcome.metrics["registry_success_rate"] == 1.0
    assert outcome.metrics["writeback_success_rate"] == 1.0
    assert outcome.metrics["registry_latency_p50_s"] > 0


def test_seeded_drift_is_found_fixed_and_resolved_on_the_next_run(conn, tenant):
    missing_in_registry = credential_id(conn, tenant, employee(1), "CERT-2")
    flipped, terminated, expired_owner = employee(2), employee(3), employee(4)
    expired = credential_id(conn, tenant, expired_owner, "CERT-2")
    # Terminated in the HRIS; the webhook never came, so nothing downstream moved.
    conn.execute(
        "UPDATE core.workers SET employment_status = 'terminated', termination_date = %s "
        "WHERE tenant_id = %s AND employee_id = %s",
        (AS_OF.date(), tenant, terminated),
    )
    # Past its expiry; recertification has not run.
    conn.execute("UPDATE core.credentials SET expiry_date = %s WHERE credential_id = %s",
                 (AS_OF.date() - timedelta(days=1), expired))
    snapshots = load_snapshots(
        conn, tenant,
        registry=lambda certs: [c for c in certs if c.registry_id != f"REG-{missing_in_registry}"],
        lms=lambda users: [u._replace(active=False) if u.external_id == flipped else u
                           for u in users],
    )

    first = run(conn, tenant, snapshots, AS_OF, dag_run_id="scheduled__1")

    found = open_findings(conn, tenant)
    assert {key: (action, owner) for key, (_, action, owner, _) in found.items()} == {
        ("registry_missing", str(missing_in_registry)): ("queued_fix", "data-platform"),
        ("learner_active_mismatch", flipped): ("auto_fixed", "people-systems"),
        ("learner_active_mismatch", terminated): ("auto_fixed", "people-systems"),
        ("terminated_still_certified", f"hris_profile:{terminated}:CERT-1"): ("flagged", "hr-operations"),
        ("terminated_still_certified", f"hris_profile:{terminated}:CERT-2"): ("flagged", "hr-operations"),
        ("terminated_still_certified", f"payroll_flag:{terminated}:CERT-1"): ("flagged", "hr-operations"),
        ("credential_active_past_expiry", str(expired)): ("flagged", "learning-ops"),
    }
    assert (first.findings_new, first.findings_auto_fixed, first.findings_queued) == (7, 2, 1)
    # The fixes are re-queues the owning flows pick up: an acknowledged submission
    # cannot move back, so the lost certificate waits in dead letters for replay.
    letter = conn.execute(
        "SELECT reason, payload->>'operation', status FROM audit.dead_letters "
        "WHERE tenant_id = %s AND source = 'registry' AND entity_key = %s",
        (tenant, f"cs-{missing_in_registry}-v1-issue"),
    ).fetchone()
    assert letter == ("recon_registry_missing", "issue", "open")
    resync = {r[0] for r in conn.execute(
        "SELECT employee_id FROM core.learners WHERE tenant_id = %s AND synced_hash = 'recon:resync'", (tenant,))}
    assert resync == {flipped, terminated}

    # The delivery and provisioning DAGs run, then the next reconciliation.
    assert replay_registry_dead_letters(conn, tenant) == 1
    assert provision_requeued_learners(conn, tenant) == 2
    second = run(conn, tenant, load_snapshots(conn, tenant), AS_OF + timedelta(days=1),
                 dag_run_id="scheduled__2")

    assert second.findings_new == 0
    assert second.findings_resolved == 3
    still_open = open_findings(conn, tenant)
    assert set(still_open) == {k for k, (_, action, _, _) in found.items() if action == "flagged"}
    # A persisting finding keeps its row and counts the sighting.
    assert all(still_open[k][0] == found[k][0] and still_open[k][3] == 2 for k in still_open)
    resolved = conn.execute(
        "SELECT finding_type, entity_key FROM recon.findings WHERE tenant_id = %s AND resolved_at IS NOT NULL",
        (tenant,),
    ).fetchall()
    assert {r[0] for r in resolved} == {"registry_missing", "learner_active_mismatch"}


def test_every_comparison_reports_its_drift_with_the_right_type(conn, tenant):
    voided = credential_id(conn, tenant, employee(5), "CERT-2")
    revoked = credential_id(conn, tenant, employee(6), "CERT-2")
    expired_pay = credential_id(conn, tenant, employee(7), "CERT-1")
    conn.execute("UPDATE core.completions SET voided = true WHERE tenant_id = %s AND source_id = %s",
                 (tenant, f"{employee(5)}:2"))
    conn.execute("UPDATE core.credentials SET status = 'revoked' WHERE credential_id = %s", (revoked,))
    conn.execute("UPDATE core.credentials SET status = 'expired' WHERE credential_id = %s", (expired_pay,))
    # Eligible (passed COURSE-2) but the credential was never issued.
    conn.execute("DELETE FROM core.writebacks WHERE credential_id = %s",
                 (credential_id(conn, tenant, employee(9), "CERT-2"),))
    conn.execute("DELETE FROM core.registry_submissions WHERE credential_id = %s",
                 (credential_id(conn, tenant, employee(9), "CERT-2"),))
    conn.execute("DELETE FROM core.credentials WHERE tenant_id = %s AND employee_id = %s "
                 "AND credential_type = 'CERT-2'", (tenant, employee(9)))
    users = {u.external_id: u for u in synthetic.lms_users(conn, tenant)}

    def lms(snapshot):
        extra = users[employee(11)]._replace(scim_id="S-dup")  # a second account
        orphan = users[employee(12)]._replace(scim_id="S-orphan", external_id="E99999999")
        moved = [u._replace(department="Moved") if u.external_id == employee(8) else u
                 for u in snapshot]
        return [*moved, extra, orphan]

    def registry(certs):
        unknown = certs[0]._replace(registry_id="REG-unknown", learner_id="E77777777")
        # The registry never heard of the revocation or the expiry.
        stale = {f"REG-{revoked}", f"REG-{expired_pay}"}
        return [*(c._replace(status="active") if c.registry_id in stale else c for c in certs),
                unknown]

    def hris(rows):
        # The profile write-back of employee 12's CERT-2 never arrived.
        return [r for r in rows if not (r.employee_id == employee(12) and r.credential_type == "CERT-2"
                                        and r.target == "hris_profile")]

    run(conn, tenant, load_snapshots(conn, tenant, lms=lms, registry=registry, hris=hris), AS_OF)

    found = {key: action for key, (_, action, _, _) in open_findings(conn, tenant).items()}
    assert found == {
        ("learner_attribute_drift", f"{employee(8)}:department"): "auto_fixed",
        ("learner_duplicate", employee(11)): "flagged",
        ("learner_orphaned", "scim:S-orphan"): "flagged",
        ("credential_without_evidence", str(voided)): "flagged",
        ("credential_not_issued", f"{employee(9)}:CERT-2"): "flagged",
        ("registry_not_revoked", str(revoked)): "auto_fixed",
        ("registry_not_revoked", str(expired_pay)): "auto_fixed",
        ("registry_unknown", "registry:REG-unknown"): "flagged",
        ("pay_flag_without_credential", f"payroll_flag:{employee(7)}:CERT-1"): "auto_fixed",
        ("writeback_missing", f"hris_profile:{employee(12)}:CERT-2"): "auto_fixed",
    }
    revoke = conn.execute(
        "SELECT state FROM core.registry_submissions WHERE credential_id = %s AND operation = 'revoke'",
        (revoked,),
    ).fetchone()
    assert revoke == ("pending",)


def test_rerunning_the_same_dag_run_changes_nothing(conn, tenant):
    missing = credential_id(conn, tenant, employee(1), "CERT-1")
    snapshots = load_snapshots(
        conn, tenant,
        registry=lambda certs: [c for c in certs if c.registry_id != f"REG-{missing}"],
        lms=lambda users: [u._replace(active=False) if u.external_id == employee(2) else u
                           for u in users],
    )

    first = run(conn, tenant, snapshots, AS_OF, dag_run_id="manual__retry")
    again = run(conn, tenant, snapshots, AS_OF, dag_run_id="manual__retry")

    assert again.run_id == first.run_id
    rows = conn.execute(
        "SELECT finding_type, times_seen, action FROM recon.findings WHERE tenant_id = %s ORDER BY 1",
        (tenant,)).fetchall()
    assert rows == [("learner_active_mismatch", 1, "auto_fixed"), ("registry_missing", 1, "queued_fix")]
    attempts = conn.execute(
        "SELECT attempts FROM audit.dead_letters WHERE tenant_id = %s AND payload->>'credential_id' = %s",
        (tenant, str(missing))).fetchone()
    assert attempts == (1,)  # dead-lettered once, not once per attempt
    assert conn.execute("SELECT count(*) FROM recon.runs WHERE tenant_id = %s", (tenant,)).fetchone()[0] == 1


def test_an_auto_fix_that_does_not_land_is_escalated_to_its_owner(conn, tenant):
    snapshots = load_snapshots(
        conn, tenant,
        lms=lambda users: [u._replace(active=False) if u.external_id == employee(2) else u
                           for u in users],
    )
    for day in range(3):
        # Provisioning re-sends, yet the LMS keeps the account inactive.
        provision_requeued_learners(conn, tenant)
        run(conn, tenant, snapshots, AS_OF + timedelta(days=day), dag_run_id=f"d{day}")

    [(action, times_seen)] = conn.execute(
        "SELECT action, times_seen FROM recon.findings WHERE tenant_id = %s", (tenant,)).fetchall()
    assert (action, times_seen) == ("flagged", 3)


def test_overlapping_runs_each_compare_against_their_own_snapshots(conn, tenant):
    """A backfill's runs overlap: the second run's snapshot loads do not pull the first run's away."""
    first = load_snapshots(conn, tenant)
    second = load_snapshots(conn, tenant)
    assert first.registry != second.registry
    earlier = run(conn, tenant, first, AS_OF)
    later = run(conn, tenant, second, AS_OF)
    assert earlier.by_type == later.by_type == {}


def test_a_snapshot_past_its_retention_is_refused_rather_than_compared_as_empty(conn, tenant):
    from credsync.recon.compare import SnapshotMissing
    from credsync.recon.config import load_recon_config
    from credsync.recon.snapshots import load_registry_certificates

    stale = load_snapshots(conn, tenant)
    # The compare task runs long after its snapshots (a retry hours later): a newer load of the
    # registry has replaced and deleted the snapshot, which is past include/recon.yaml's retention.
    conn.execute("UPDATE staging.recon_snapshots SET loaded_at = loaded_at - make_interval(mins => %s)"
                 " WHERE snapshot_id = %s", (load_recon_config().snapshot_retention_minutes + 1, stale.registry))
    load_registry_certificates(conn, tenant, synthetic.registry_certificates(conn, tenant))

    with pytest.raises(SnapshotMissing, match=rf"registry {stale.registry}.*rerun the snapshot tasks"):
        run(conn, tenant, stale, AS_OF)
    # Nothing was recorded: no run, no finding (every certificate would have looked missing).
    assert conn.execute("SELECT count(*) FROM recon.runs WHERE tenant_id = %s", (tenant,)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM recon.findings WHERE tenant_id = %s", (tenant,)).fetchone()[0] == 0


def test_comparison_groups_see_the_callers_open_transaction(conn, tenant):
    """Inside a caller's transaction the groups run on its connection, so they see its writes."""
    snapshots = load_snapshots(conn, tenant)
    with conn.transaction():
        conn.execute("DELETE FROM staging.registry_snapshot WHERE snapshot_id = %s AND learner_id = %s",
                     (snapshots.registry, employee(5)))
        outcome = run(conn, tenant, snapshots, AS_OF)
    assert outcome.by_type == {"registry_missing": TYPES}
