"""${message}"""

from credsync.warehouse.migrations import run_sql_file

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}


def upgrade() -> None:
    run_sql_file("${up_revision}.sql")
