"""Apply include/sql/migrations/0027_statement_hash_once.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0027_statement_hash_once"
down_revision = "0026_snapshot_partitions"


def upgrade() -> None:
    run_sql_file("0027_statement_hash_once.sql")
