"""The reconciliation benchmark at a tiny size: real Postgres, registry listing over real HTTP, real reladiff."""

from __future__ import annotations

import pytest

from credsync.warehouse import connect
from credsync_dev.bench.recon_bench import run

pytestmark = pytest.mark.slow


def test_tiny_benchmark_finds_the_seeded_drift_with_credsync_and_reladiff_and_drops_its_database(
    postgres_server,
) -> None:
    figures = run(workers=2000, types=2, registry="http")

    assert figures["credentials"] == 4000
    # The registry listing came over HTTP, page by page, into the staged snapshot:
    # every credential's certificate, less the 3 the registry lost, plus 1 it holds for nobody we know.
    assert figures["registry_certificates"] == figures["snapshot_rows"]["registry"] == 4000 - 3 + 1
    assert figures["snapshot_rows"]["lms_learners"] == 2000 + 1

    # credsync finds exactly the seeded drift ...
    assert figures["findings_by_type"] == {
        "learner_active_mismatch": 3, "learner_attribute_drift": 2, "learner_orphaned": 1,
        "registry_missing": 3, "registry_status_mismatch": 2, "registry_unknown": 1,
        "writeback_missing": 3,
    }
    assert figures["credsync_findings"] == figures["expected_findings"] == {
        "hris_lms": 6, "credentials_registry": 6, "credentials_hris": 3}
    # ... and reladiff, diffing the same staged tables, reports the very same keys.
    assert figures["reladiff_keys"] == figures["credsync_keys"]
    assert "X00000001" in figures["reladiff_keys"]["hris_lms"]
    assert "payroll_flag:E00001666:CERT-1" in figures["reladiff_keys"]["credentials_hris"]

    for phase in ("load_lms_s", "load_registry_s", "load_hris_s", "reconcile_s", "reladiff_total_s"):
        assert figures[phase] > 0, phase
    # End to end: the loads, then reconcile (the gap is starting reconcile's fresh process).
    assert figures["snapshots_s"] + figures["reconcile_s"] <= figures["credsync_total_s"]
    assert figures["credsync_total_s"] < figures["snapshots_s"] + figures["reconcile_s"] + 10
    assert figures["ratio"] == pytest.approx(figures["reladiff_total_s"] / figures["credsync_total_s"], abs=0.01)
    assert 0 < figures["credsync_peak_rss_mib"] < 1024

    assert figures["database_dropped"]
    with connect(postgres_server.url, autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (figures["database"],)).fetchone()
    assert left[0] == 0
