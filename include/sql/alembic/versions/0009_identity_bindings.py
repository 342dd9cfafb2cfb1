"""Apply include/sql/migrations/0009_identity_bindings.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0009_identity_bindings"
down_revision = "0008_ingest_hardening"


def upgrade() -> None:
    run_sql_file("0009_identity_bindings.sql")
