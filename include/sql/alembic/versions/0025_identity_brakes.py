"""Apply include/sql/migrations/0025_identity_brakes.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0025_identity_brakes"
down_revision = "0024_registry_notifications"


def upgrade() -> None:
    run_sql_file("0025_identity_brakes.sql")
