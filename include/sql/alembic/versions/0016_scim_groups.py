"""Apply include/sql/migrations/0016_scim_groups.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0016_scim_groups"
down_revision = "0015_status_purposes"


def upgrade() -> None:
    run_sql_file("0016_scim_groups.sql")
