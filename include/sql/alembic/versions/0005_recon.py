"""Apply include/sql/migrations/0005_recon.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0005_recon"
down_revision = "0004_delivery"


def upgrade() -> None:
    run_sql_file("0005_recon.sql")
