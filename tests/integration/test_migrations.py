from credsync.warehouse import connect, migrate


def test_migrations_create_every_schema_and_rerun_is_a_noop(warehouse_url):
    assert migrate(warehouse_url) == "0029_career_path_eligibility"
    with connect(warehouse_url) as conn:
        schemas = {r[0] for r in conn.execute("SELECT schema_name FROM information_schema.schemata")}
        tables_before = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema IN ('staging','core','recon','audit')"
        ).fetchone()[0]
    assert {"staging", "core", "recon", "audit"} <= schemas
    assert migrate(warehouse_url) == "0029_career_path_eligibility"
    with connect(warehouse_url) as conn:
        tables_after = conn.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema IN ('staging','core','recon','audit')"
        ).fetchone()[0]
    assert tables_after == tables_before


def test_every_warehouse_table_carries_tenant_id(warehouse_url):
    with connect(warehouse_url) as conn:
        rows = conn.execute(
            """
            SELECT t.table_schema || '.' || t.table_name
            FROM information_schema.tables t
            WHERE t.table_schema IN ('staging', 'core', 'recon', 'audit')
              AND t.table_type = 'BASE TABLE'
              AND t.table_name <> 'alembic_version'
              AND NOT EXISTS (
                  SELECT 1 FROM information_schema.columns c
                  WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name
                    AND c.column_name = 'tenant_id')
            """
        ).fetchall()
    assert [r[0] for r in rows] == []
