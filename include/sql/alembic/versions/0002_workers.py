"""Apply include/sql/migrations/0002_workers.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0002_workers"
down_revision = "0001_foundation"


def upgrade() -> None:
    run_sql_file("0002_workers.sql")
