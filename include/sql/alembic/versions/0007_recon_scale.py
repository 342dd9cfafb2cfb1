"""Apply include/sql/migrations/0007_recon_scale.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0007_recon_scale"
down_revision = "0006_webhooks"


def upgrade() -> None:
    run_sql_file("0007_recon_scale.sql")
