"""Apply include/sql/migrations/0006_webhooks.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0006_webhooks"
down_revision = "0005_recon"


def upgrade() -> None:
    run_sql_file("0006_webhooks.sql")
