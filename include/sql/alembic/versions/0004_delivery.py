"""Apply include/sql/migrations/0004_delivery.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0004_delivery"
down_revision = "0003_learning"


def upgrade() -> None:
    run_sql_file("0004_delivery.sql")
