"""Apply include/sql/migrations/0019_consent_ledger.sql."""

from credsync.warehouse.migrations import run_sql_file

revision = "0019_consent_ledger"
down_revision = "0018_credential_definitions"


def upgrade() -> None:
    run_sql_file("0019_consent_ledger.sql")
