"""Apply include/sql/migrations/0018_credential_definitions.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0018_credential_definitions"
down_revision = "0017_provisioning_guards"


def upgrade() -> None:
    run_sql_file("0018_credential_definitions.sql")
