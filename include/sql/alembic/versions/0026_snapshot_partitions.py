"""Apply include/sql/migrations/0026_snapshot_partitions.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0026_snapshot_partitions"
down_revision = "0025_identity_brakes"


def upgrade() -> None:
    run_sql_file("0026_snapshot_partitions.sql")
