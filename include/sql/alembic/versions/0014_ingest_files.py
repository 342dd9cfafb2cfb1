"""Apply include/sql/migrations/0014_ingest_files.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0014_ingest_files"
down_revision = "0013_lrs_sync"


def upgrade() -> None:
    run_sql_file("0014_ingest_files.sql")
