"""Apply include/sql/migrations/0001_foundation.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0001_foundation"
down_revision = None


def upgrade() -> None:
    run_sql_file("0001_foundation.sql")
