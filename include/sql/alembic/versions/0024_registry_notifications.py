"""Apply include/sql/migrations/0024_registry_notifications.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0024_registry_notifications"
down_revision = "0023_completion_events"


def upgrade() -> None:
    run_sql_file("0024_registry_notifications.sql")
