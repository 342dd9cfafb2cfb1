"""Analysts read the recon views through row-level security; reports and alerts land."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest

from credsync.recon.alerts import record_alert
from credsync.recon.report import CHARTS, build_report
from credsync_dev import synthetic

from .support import TYPES, employee, load_snapshots, new_tenant_id, run

AS_OF = datetime(2025, 6, 3, 6, 0, tzinfo=UTC)


@pytest.fixture
def two_tenants_with_findings(conn) -> tuple[str, str]:
    tenants = (new_tenant_id(), new_tenant_id())
    for tenant in tenants:
        synthetic.create_tenant(conn, tenant, workers=12, types=TYPES, as_of=AS_OF)
        snapshots = load_snapshots(conn, tenant, lms=lambda users: [
            u._replace(active=False) if u.external_id == employee(1) else u for u in users])
        run(conn, tenant, snapshots, AS_OF)
    return tenants


@pytest.fixture
def analyst_login(conn, warehouse_url):
    """A login role in credsync_analyst, dropped afterwards; yields (role, url)."""
    role = "analyst_" + uuid.uuid4().hex[:8]
    conn.execute(f'CREATE ROLE "{role}" LOGIN IN ROLE credsync_analyst')
    url = psycopg.conninfo.make_conninfo(warehouse_url, user=role)
    try:
        yield role, url
    finally:
        conn.execute("DELETE FROM recon.analyst_tenants WHERE role_name = %s", (role,))
        conn.execute(f'DROP OWNED BY "{role}"')
        conn.execute(f'DROP ROLE "{role}"')


def test_analyst_sees_only_the_tenants_mapped_to_it(conn, two_tenants_with_findings, analyst_login):
    mine, theirs = two_tenants_with_findings
    role, url = analyst_login
    conn.execute("INSERT INTO recon.analyst_tenants (role_name, tenant_id) VALUES (%s, %s)", (role, mine))

    with psycopg.connect(url) as analyst:
        assert analyst.execute("SELECT current_user").fetchone()[0] == role
        seen = {r[0] for r in analyst.execute("SELECT tenant_id FROM recon.v_open_findings")}
        runs = {r[0] for r in analyst.execute("SELECT tenant_id FROM recon.runs")}
        drift = {r[0] for r in analyst.execute("SELECT tenant_id FROM recon.v_drift_daily")}
        latency = {r[0] for r in analyst.execute("SELECT tenant_id FROM recon.v_latency_daily")}
        direct = analyst.execute("SELECT count(*) FROM recon.findings WHERE tenant_id = %s",
                                 (theirs,)).fetchone()[0]

    assert mine in seen and theirs not in seen
    assert mine in runs and theirs not in runs
    assert mine in drift and theirs not in drift
    assert mine in latency and theirs not in latency
    assert direct == 0


def test_analyst_cannot_read_core_or_write_findings(conn, two_tenants_with_findings, analyst_login):
    mine, _ = two_tenants_with_findings
    role, url = analyst_login
    conn.execute("INSERT INTO recon.analyst_tenants (role_name, tenant_id) VALUES (%s, %s)", (role, mine))

    with psycopg.connect(url, autocommit=True) as analyst:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            analyst.execute("SELECT count(*) FROM core.workers")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            analyst.execute("UPDATE recon.findings SET owner = 'me'")


def test_report_writes_html_and_charts_for_the_tenant(conn, warehouse_url, two_tenants_with_findings, tmp_path):
    tenant, _ = two_tenants_with_findings

    page = build_report(warehouse_url, tenant, tmp_path)

    assert str(page) == f"file://{tmp_path}/{tenant}/index.html"  # through the object store
    text = page.read_text(encoding="utf-8")
    assert "learner_active_mismatch" in text
    for chart in CHARTS:
        png = tmp_path / tenant / chart
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f'src="{chart}"' in text


def test_alert_rows_are_visible_to_the_tenants_analyst_only(conn, warehouse_url, two_tenants_with_findings,
                                                           analyst_login):
    mine, theirs = two_tenants_with_findings
    role, url = analyst_login
    conn.execute("INSERT INTO recon.analyst_tenants (role_name, tenant_id) VALUES (%s, %s)", (role, mine))
    record_alert(warehouse_url, tenant_id=mine, message="gate failed: drift", dag_id="reconciliation")
    record_alert(warehouse_url, tenant_id=theirs, message="gate failed: drift", dag_id="reconciliation")

    with psycopg.connect(url) as analyst:
        tenants = [r[0] for r in analyst.execute("SELECT tenant_id FROM recon.alerts")]

    assert tenants == [mine]


def test_an_analyst_cannot_learn_another_roles_tenants(conn, warehouse_url, two_tenants_with_findings,
                                                       analyst_login):
    mine, theirs = two_tenants_with_findings
    role, url = analyst_login
    other = "analyst_" + uuid.uuid4().hex[:8]
    conn.execute(f'CREATE ROLE "{other}" NOLOGIN IN ROLE credsync_analyst')
    try:
        conn.execute("INSERT INTO recon.analyst_tenants (role_name, tenant_id) VALUES (%s, %s), (%s, %s)",
                     (role, mine, other, theirs))
        with psycopg.connect(url, autocommit=True) as analyst:
            # The old recon.visible_tenants(name) answered for any role name it was given.
            try:
                leaked = {r[0] for r in analyst.execute("SELECT recon.visible_tenants(%s::name)", (other,))}
            except psycopg.errors.UndefinedFunction:
                leaked = set()
            assert theirs not in leaked, "an analyst listed another role's tenants"
            own = {r[0] for r in analyst.execute("SELECT recon.visible_tenants()")}
            mapping = analyst.execute("SELECT role_name, tenant_id FROM recon.analyst_tenants").fetchall()
    finally:
        conn.execute("DELETE FROM recon.analyst_tenants WHERE role_name = %s", (other,))
        conn.execute(f'DROP ROLE "{other}"')

    assert own == {mine}
    assert mapping == [(role, mine)]
