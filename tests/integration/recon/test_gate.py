"""The Great Expectations gate on a reconciliation run."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from credsync.recon.config import load_recon_config
from credsync.recon.gate import check_run
from credsync_dev import synthetic

from .support import TYPES, employee, load_snapshots, new_tenant_id, run

AS_OF = datetime(2025, 6, 4, 6, 0, tzinfo=UTC)
pytestmark = pytest.mark.slow


def test_gate_passes_a_clean_run_and_fails_a_drifting_one_naming_the_comparison(conn, warehouse_url):
    config = load_recon_config()
    clean, drifting = new_tenant_id(), new_tenant_id()
    for tenant in (clean, drifting):
        synthetic.create_tenant(conn, tenant, workers=20, types=TYPES, as_of=AS_OF)
    clean_run = run(conn, clean, load_snapshots(conn, clean), AS_OF)
    # 1 of 20 workers (5 %) drifts: above the 1 % threshold.
    drifting_run = run(conn, drifting, load_snapshots(conn, drifting, lms=lambda users: [
        u._replace(active=False) if u.external_id == employee(1) else u for u in users]), AS_OF)

    passed = check_run(warehouse_url, tenant_id=clean, run_id=clean_run.run_id, config=config)
    failed = check_run(warehouse_url, tenant_id=drifting, run_id=drifting_run.run_id, config=config)

    assert passed.success, passed.summary
    assert not failed.success
    assert failed.failed == ["hris_lms drift 5.00% > 1.00%"]
    statuses = dict(conn.execute(
        "SELECT tenant_id, status FROM recon.runs WHERE run_id IN (%s, %s)",
        (clean_run.run_id, drifting_run.run_id)).fetchall())
    assert statuses == {clean: "passed", drifting: "failed"}
