"""Apply include/sql/migrations/0012_trusted_credentials.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0012_trusted_credentials"
down_revision = "0011_audit_hardening"


def upgrade() -> None:
    run_sql_file("0012_trusted_credentials.sql")
