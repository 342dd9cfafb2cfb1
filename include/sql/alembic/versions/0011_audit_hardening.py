"""Apply include/sql/migrations/0011_audit_hardening.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0011_audit_hardening"
down_revision = "0010_learning_hardening"


def upgrade() -> None:
    run_sql_file("0011_audit_hardening.sql")
