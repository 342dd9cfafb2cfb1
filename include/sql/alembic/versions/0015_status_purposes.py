"""Apply include/sql/migrations/0015_status_purposes.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0015_status_purposes"
down_revision = "0014_ingest_files"


def upgrade() -> None:
    run_sql_file("0015_status_purposes.sql")
