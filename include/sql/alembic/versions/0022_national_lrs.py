"""Apply include/sql/migrations/0022_national_lrs.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0022_national_lrs"
down_revision = "0021_erasure"


def upgrade() -> None:
    run_sql_file("0022_national_lrs.sql")
