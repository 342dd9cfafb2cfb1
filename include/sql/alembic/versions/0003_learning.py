"""Apply include/sql/migrations/0003_learning.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0003_learning"
down_revision = "0002_workers"


def upgrade() -> None:
    run_sql_file("0003_learning.sql")
