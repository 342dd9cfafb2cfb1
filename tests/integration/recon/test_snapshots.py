"""Snapshot loads: a listing that names a record twice is refused whole."""

from __future__ import annotations

import pytest

from credsync.recon.snapshots import ListingDuplicateError, load_hris_writebacks, load_registry_certificates
from credsync_dev import synthetic


def _snapshots(conn, tenant: str, source: str) -> list[tuple]:
    return conn.execute("SELECT snapshot_id, row_count FROM staging.recon_snapshots "
                        "WHERE tenant_id = %s AND source = %s", (tenant, source)).fetchall()


def test_a_listing_with_a_repeated_certificate_is_refused_and_the_last_snapshot_stays(conn, tenant):
    certificates = list(synthetic.registry_certificates(conn, tenant))
    good = load_registry_certificates(conn, tenant, certificates)

    repeated = certificates[3]
    with pytest.raises(ListingDuplicateError, match=rf"registry listing .* {repeated.registry_id} \(2x\)"):
        load_registry_certificates(conn, tenant, [*certificates, repeated._replace(status="revoked")])

    assert _snapshots(conn, tenant, "registry") == [(good, len(certificates))]
    assert conn.execute("SELECT count(*) FROM staging.registry_snapshot WHERE snapshot_id = %s",
                        (good,)).fetchone()[0] == len(certificates)


def test_hris_records_are_keyed_by_target_worker_and_type(conn, tenant):
    writebacks = list(synthetic.hris_writebacks(conn, tenant))
    # Same worker and type under both targets is two records, not a duplicate.
    assert {w.target for w in writebacks} == {"hris_profile", "payroll_flag"}
    load_hris_writebacks(conn, tenant, writebacks)

    with pytest.raises(ListingDuplicateError, match=r"target/employee_id/credential_type"):
        load_hris_writebacks(conn, tenant, [*writebacks, writebacks[0]])
