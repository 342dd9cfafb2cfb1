"""Schema migrations: Alembic revisions that each run one SQL file."""

from __future__ import annotations

from credsync.paths import SQL_DIR

ALEMBIC_DIR = SQL_DIR / "alembic"
MIGRATIONS_DIR = SQL_DIR / "migrations"
# Serialises concurrent migrate() calls (mapped tasks, parallel DAG runs).
_LOCK_KEY = 0x63726564  # "cred"


def migrate(url: str, revision: str = "head") -> str:
    """Bring the warehouse at ``url`` to ``revision``; a no-op when already there.

    Returns the revision the database is at afterwards.
    """
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine, text

    from credsync.warehouse.connect import sqlalchemy_url

    sa_url = sqlalchemy_url(url)
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    config.set_main_option("sqlalchemy.url", sa_url.replace("%", "%%"))
    engine = create_engine(sa_url)
    try:
        with engine.connect() as lock_conn:
            lock_conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _LOCK_KEY})
            try:
                command.upgrade(config, revision)
            finally:
                lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _LOCK_KEY})
        with engine.connect() as conn:
            return MigrationContext.configure(
                conn, opts={"version_table_schema": "audit"}
            ).get_current_revision()
    finally:
        engine.dispose()


def run_sql_file(name: str) -> None:
    """Execute ``include/sql/migrations/<name>`` inside the running Alembic migration."""
    from alembic import op

    op.execute((MIGRATIONS_DIR / name).read_text(encoding="utf-8"))
