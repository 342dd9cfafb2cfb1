"""Apply include/sql/migrations/0023_completion_events.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0023_completion_events"
down_revision = "0022_national_lrs"


def upgrade() -> None:
    run_sql_file("0023_completion_events.sql")
