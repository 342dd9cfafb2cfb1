"""Recertification end to end: warehouse, registry sandbox and HRIS sandbox."""

from __future__ import annotations

import csv
from datetime import date

from airflow.sdk import ObjectStoragePath

from credsync.delivery.config import load_delivery_settings
from credsync.delivery.push import push_submissions
from credsync.delivery.recertification import expire_and_remind
from credsync.delivery.writeback import sync_writebacks
from credsync.warehouse import connect
from tests.integration.delivery.conftest import TEST_SETTINGS
from tests.integration.delivery.helpers import admin, put_hris_workers, seed_credentials

AS_OF = date(2026, 3, 2)


def _hris_profile(hris_client, employee_id: str) -> dict:
    return hris_client.http.request("GET", f"/api/v1/tenants/acme/workers/{employee_id}").json()


def _recertify(url, registry_client, hris_client, payroll_dir):
    settings = load_delivery_settings()
    recert = expire_and_remind(url, "acme", AS_OF, settings)
    push = push_submissions(url, "acme", registry_client, settings=TEST_SETTINGS)
    writeback = sync_writebacks(url, "acme", hris_client, as_of=AS_OF, payroll_dir=payroll_dir)
    return recert, push, writeback


def test_expired_credential_is_inactive_everywhere_after_one_run_and_a_rerun_changes_nothing(
        fresh_warehouse_url, registry_url, hris_url, registry_client, hris_client, tmp_path):
    url = fresh_warehouse_url
    with connect(url) as conn:
        # E000001 forklift (pay impact) expired on 2026-03-01; E000002 valid until 2026-03-20 (reminders due).
        seed_credentials(conn, "acme", 1, ctype="forklift_operator", issued="2023-03-01", expires="2026-03-01",
                         pay_impact=True)
        seed_credentials(conn, "acme", 1, start=2, ctype="forklift_operator", issued="2023-03-20",
                         expires="2026-03-20", pay_impact=True)
    put_hris_workers(hris_url, "acme", ["E000001", "E000002"])
    # Before the expiry: registered, on the HRIS profile, payroll flag on.
    push_submissions(url, "acme", registry_client, settings=TEST_SETTINGS)
    sync_writebacks(url, "acme", hris_client, as_of=date(2026, 2, 1), payroll_dir=tmp_path)
    assert _hris_profile(hris_client, "E000001")["payroll_flags"][0]["active"] is True

    recert, push, writeback = _recertify(url, registry_client, hris_client, tmp_path)

    assert recert.expired == 1
    assert push.acknowledged == 1 and push.dead == 0
    certificates = {c["learner_id"]: c for c in registry_client.list_certificates("acme")}
    assert certificates["E000001"]["status"] == "revoked"
    assert certificates["E000002"]["status"] == "active"
    profile = _hris_profile(hris_client, "E000001")
    certification = profile["certifications"][0]
    assert certification["status"] == "expired"
    assert certification["summary"] == "Forklift operator certification expired on 2026-03-01"
    assert profile["payroll_flags"][0] == profile["payroll_flags"][0] | {
        "flag": "forklift_operator", "active": False, "effective_to": "2026-03-01"}
    active = _hris_profile(hris_client, "E000002")["certifications"][0]
    assert active["summary"] == "Forklift operator certification active until 2026-03-20"
    with ObjectStoragePath(writeback.payroll_csv).open("r", newline="") as handle:
        rows = {r["employee_id"]: r for r in csv.DictReader(handle)}
    assert writeback.payroll_csv.endswith("acme/payroll_flags_2026-03-02.csv")
    assert rows["E000001"]["active"] == "false" and rows["E000002"]["active"] == "true"
    with connect(url) as conn:
        status = conn.execute("SELECT status FROM core.credentials WHERE employee_id = 'E000001'").fetchone()[0]
        reminders = conn.execute("SELECT days_before FROM core.expiry_reminders ORDER BY 1").fetchall()
    assert status == "expired", "an expired credential is kept, never deleted"
    assert [r[0] for r in reminders] == [30], "E000002 is 18 days out: the 30-day reminder is due"

    before = admin(registry_url, "GET", "/admin/stats")["requests_total"]
    again = _recertify(url, registry_client, hris_client, tmp_path)

    assert again[0].as_counts() == {"tenant_id": "acme", "expired": 0, "reminders": 0}
    assert again[1].sent == 0 and again[1].requests == 0
    assert again[2].delivered == 0 and again[2].unchanged == again[2].considered == 4
    assert admin(registry_url, "GET", "/admin/stats")["requests_total"] == before


def test_writeback_rejection_goes_to_dead_letters(fresh_warehouse_url, hris_url, hris_client, tmp_path):
    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 1, ctype="cpr_aed")  # E000001 is not in the HRIS: 404

    result = sync_writebacks(fresh_warehouse_url, "acme", hris_client, as_of=AS_OF, payroll_dir=tmp_path)

    assert result.dead == 1 and result.delivered == 0
    with connect(fresh_warehouse_url) as conn:
        reason, entity_key = conn.execute(
            "SELECT reason, entity_key FROM audit.dead_letters WHERE source = 'hris_writeback'").fetchone()
    assert (reason, entity_key) == ("hris_rejected_404", "E000001:hris_profile:cpr_aed")
