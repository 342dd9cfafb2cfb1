"""The audit hash chain in a real warehouse: appends, verification, tamper detection."""

from __future__ import annotations

import subprocess
import sys
import threading

import psycopg
import pytest

from credsync.audit import append_event, dead_letter, verify_chain
from credsync.paths import PROJECT_ROOT
from credsync.warehouse import connect


def _append(url: str, tenant: str, count: int) -> None:
    with connect(url) as conn:
        for n in range(count):
            append_event(conn, tenant_id=tenant, event_type="credential.issued", entity_type="credential",
                         entity_key=f"{tenant}-{n}", detail={"n": n, "score": 91.5, "when": "2026-03-02"})
            conn.commit()


def _verify_cli(url: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "credsync.audit", "verify", "--url", url, *extra],
        capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=60,
        env={"PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT / 'plugins'}", "PATH": "/usr/bin:/bin"},
    )


def test_concurrent_appends_keep_every_tenant_chain_valid(fresh_warehouse_url):
    threads = [threading.Thread(target=_append, args=(fresh_warehouse_url, tenant, 40))
               for tenant in ("acme", "acme", "globex")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with connect(fresh_warehouse_url) as conn:
        report = verify_chain(conn)
    assert report.ok and report.checked == 120 and report.tenants == 2
    result = _verify_cli(fresh_warehouse_url)
    assert result.returncode == 0 and "\nOK: 120 events" in result.stdout
    assert result.stdout.startswith("WARNING: no checkpoint store configured")


def test_verify_names_the_first_tampered_row(fresh_warehouse_url):
    _append(fresh_warehouse_url, "acme", 10)
    with connect(fresh_warehouse_url) as conn:
        target = conn.execute("SELECT event_id FROM audit.events ORDER BY event_id OFFSET 4 LIMIT 1").fetchone()[0]
        # An attacker with superuser rights switches the append-only trigger off.
        conn.execute("ALTER TABLE audit.events DISABLE TRIGGER events_append_only")
        conn.execute("UPDATE audit.events SET detail = '{\"n\": 999}' WHERE event_id = %s", (target,))
        conn.commit()

    result = _verify_cli(fresh_warehouse_url, "--tenant", "acme")

    assert result.returncode == 1
    assert f"BROKEN: tenant acme: edited: event_id={target}:" in result.stdout and "was edited" in result.stdout


def test_verify_detects_a_deleted_row(fresh_warehouse_url):
    _append(fresh_warehouse_url, "acme", 5)
    with connect(fresh_warehouse_url) as conn:
        ids = [r[0] for r in conn.execute("SELECT event_id FROM audit.events ORDER BY event_id")]
        conn.execute("ALTER TABLE audit.events DISABLE TRIGGER events_append_only")
        conn.execute("DELETE FROM audit.events WHERE event_id = %s", (ids[2],))
        conn.commit()
        report = verify_chain(conn, "acme")
    assert not report.ok
    assert report.breaks[0].event_id == ids[3] and "deleted" in report.breaks[0].reason


def test_audit_events_refuse_updates(fresh_warehouse_url):
    _append(fresh_warehouse_url, "acme", 1)
    with connect(fresh_warehouse_url) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("UPDATE audit.events SET entity_key = 'x'")


def test_dead_letter_upsert_reopens_and_counts(fresh_warehouse_url):
    with connect(fresh_warehouse_url) as conn:
        for _ in range(2):
            dead_letter(conn, tenant_id="acme", source="registry", entity_key="k1", reason="registry_rejected_422",
                        detail={"status": 422}, payload={"certificate": {"learner_id": "E1"}})
        conn.execute("UPDATE audit.dead_letters SET status = 'replayed'")
        dead_letter(conn, tenant_id="acme", source="registry", entity_key="k1", reason="registry_rejected_422",
                    detail={"status": 422, "again": True}, payload=None)
        conn.commit()
        rows = conn.execute("SELECT status, attempts, detail FROM audit.dead_letters").fetchall()
        assert verify_chain(conn, "acme").ok
    assert rows == [("open", 3, {"status": 422, "again": True})]
