"""Apply include/sql/migrations/0021_erasure.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0021_erasure"
down_revision = "0020_retention"


def upgrade() -> None:
    run_sql_file("0021_erasure.sql")
