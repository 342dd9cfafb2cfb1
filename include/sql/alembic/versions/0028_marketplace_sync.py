"""Apply include/sql/migrations/0028_marketplace_sync.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0028_marketplace_sync"
down_revision = "0027_statement_hash_once"


def upgrade() -> None:
    run_sql_file("0028_marketplace_sync.sql")
