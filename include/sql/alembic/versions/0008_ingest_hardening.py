"""Apply include/sql/migrations/0008_ingest_hardening.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0008_ingest_hardening"
down_revision = "0007_recon_scale"


def upgrade() -> None:
    run_sql_file("0008_ingest_hardening.sql")
