"""Apply include/sql/migrations/0010_learning_hardening.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0010_learning_hardening"
down_revision = "0009_identity_bindings"


def upgrade() -> None:
    run_sql_file("0010_learning_hardening.sql")
