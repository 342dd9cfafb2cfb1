"""Snapshots are partitions of their own: expired ones are dropped whole, loads never stall readers."""

from __future__ import annotations

import time
import uuid

from credsync.recon.config import load_recon_config
from credsync.recon.snapshots import load_registry_certificates
from credsync.warehouse import connect, migrate
from credsync_dev import synthetic


def _partitions(conn, parent: str) -> set[str]:
    return {r[0] for r in conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass", (parent,))}


def _partition_of(snapshot_id: uuid.UUID) -> str:
    return f"registry_snapshot_{snapshot_id.hex}"


def _age(conn, snapshot_id: uuid.UUID) -> None:
    """Make a snapshot look older than the retention."""
    conn.execute("UPDATE staging.recon_snapshots SET loaded_at = loaded_at - make_interval(mins => %s)"
                 " WHERE snapshot_id = %s", (load_recon_config().snapshot_retention_minutes + 1, snapshot_id))


def _exists(conn, relname: str) -> bool:
    return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"staging.{relname}",)).fetchone()[0]


def test_each_load_is_one_partition_and_an_expired_one_is_dropped_not_deleted(conn, tenant):
    certificates = list(synthetic.registry_certificates(conn, tenant))
    first = load_registry_certificates(conn, tenant, certificates)
    assert _partition_of(first) in _partitions(conn, "staging.registry_snapshot")
    assert conn.execute(f"SELECT count(*) FROM staging.{_partition_of(first)}").fetchone()[0] == len(certificates)

    _age(conn, first)
    second = load_registry_certificates(conn, tenant, certificates)

    assert not _exists(conn, _partition_of(first))
    assert _partition_of(second) in _partitions(conn, "staging.registry_snapshot")
    assert conn.execute("SELECT count(*) FROM staging.recon_snapshots WHERE snapshot_id = %s",
                        (first,)).fetchone()[0] == 0
    # The first snapshot's rows went with its partition (dropped, not deleted row by row): the tenant's
    # registry rows are the second load's, in the second load's partition only. (Dead-tuple counters
    # are not a measure here: other tests of the session delete rows from their own snapshots.)
    assert conn.execute("SELECT snapshot_id FROM staging.recon_snapshots WHERE tenant_id = %s AND source = 'registry'",
                        (tenant,)).fetchall() == [(second,)]
    placed = conn.execute("SELECT tableoid::regclass::text, count(*) FROM staging.registry_snapshot"
                          " WHERE tenant_id = %s GROUP BY 1", (tenant,)).fetchall()
    assert placed == [(f"staging.{_partition_of(second)}", len(certificates))]


def test_a_load_does_not_wait_for_another_tenants_comparison(conn, tenant, warehouse_url):
    certificates = list(synthetic.registry_certificates(conn, tenant))
    with connect(warehouse_url) as reader:
        # A comparison of another tenant reads the parent table inside its transaction.
        reader.execute("SELECT count(*) FROM staging.registry_snapshot").fetchone()
        conn.execute("SET lock_timeout = '3s'")
        try:
            started = time.monotonic()
            snapshot = load_registry_certificates(conn, tenant, certificates)
            assert time.monotonic() - started < 3
        finally:
            conn.execute("RESET lock_timeout")
        reader.rollback()
    assert _exists(conn, _partition_of(snapshot))


def test_an_expired_snapshot_still_being_read_is_kept_until_the_next_load(conn, tenant, warehouse_url):
    certificates = list(synthetic.registry_certificates(conn, tenant))
    old = load_registry_certificates(conn, tenant, certificates)
    _age(conn, old)
    with connect(warehouse_url) as reader:
        reader.execute(f"SELECT count(*) FROM staging.{_partition_of(old)}").fetchone()
        started = time.monotonic()
        load_registry_certificates(conn, tenant, certificates)
        # The drop gave up after its short lock timeout instead of queueing every reader behind it.
        assert time.monotonic() - started < 10
        assert _exists(conn, _partition_of(old))
        reader.rollback()
    load_registry_certificates(conn, tenant, certificates)
    assert not _exists(conn, _partition_of(old))


def test_a_partition_no_snapshot_row_names_is_swept_by_the_next_load(conn, tenant):
    """After a crash Postgres empties the unlogged snapshot register; its partitions must not pile up."""
    certificates = list(synthetic.registry_certificates(conn, tenant))
    lost = load_registry_certificates(conn, tenant, certificates)
    conn.execute("DELETE FROM staging.recon_snapshots WHERE snapshot_id = %s", (lost,))
    kept = load_registry_certificates(conn, tenant, certificates)
    assert not _exists(conn, _partition_of(lost))
    assert _exists(conn, _partition_of(kept))


def test_the_migration_moves_existing_snapshots_into_partitions_of_their_own(postgres_server):
    name = postgres_server.temporary_database_name("credsync_partitions")
    url = postgres_server.create_database(name)
    try:
        migrate(url, "0025_identity_brakes")
        snapshots = [uuid.uuid4(), uuid.uuid4()]
        with connect(url, autocommit=True) as c:
            for n, snapshot in enumerate(snapshots):
                for i in range(3 + n):
                    c.execute("INSERT INTO staging.registry_snapshot (snapshot_id, tenant_id, registry_id, learner_id,"
                              " credential_type, credential_version, status) VALUES (%s, 'acme', %s, 'E1', 'cpr',"
                              " '1', 'active')", (snapshot, f"R{n}-{i}"))
        migrate(url)
        with connect(url, autocommit=True) as c:
            assert _partitions(c, "staging.registry_snapshot") == {_partition_of(s) for s in snapshots}
            counts = [c.execute(f"SELECT count(*) FROM staging.{_partition_of(s)}").fetchone()[0] for s in snapshots]
            assert counts == [3, 4]
            persistence = c.execute("SELECT relpersistence FROM pg_class WHERE relname = %s",
                                    (_partition_of(snapshots[0]),)).fetchone()[0]
            assert persistence == "u"
    finally:
        postgres_server.drop_database(name)
