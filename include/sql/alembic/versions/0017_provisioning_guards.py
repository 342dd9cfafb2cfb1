"""Apply include/sql/migrations/0017_provisioning_guards.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0017_provisioning_guards"
down_revision = "0016_scim_groups"


def upgrade() -> None:
    run_sql_file("0017_provisioning_guards.sql")
