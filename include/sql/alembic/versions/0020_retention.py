"""Apply include/sql/migrations/0020_retention.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0020_retention"
down_revision = "0019_consent_ledger"


def upgrade() -> None:
    run_sql_file("0020_retention.sql")
