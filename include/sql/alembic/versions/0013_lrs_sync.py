"""Apply include/sql/migrations/0013_lrs_sync.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0013_lrs_sync"
down_revision = "0012_trusted_credentials"


def upgrade() -> None:
    run_sql_file("0013_lrs_sync.sql")
