"""Apply include/sql/migrations/0029_career_path_eligibility.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0029_career_path_eligibility"
down_revision = "0028_marketplace_sync"


def upgrade() -> None:
    run_sql_file("0029_career_path_eligibility.sql")
