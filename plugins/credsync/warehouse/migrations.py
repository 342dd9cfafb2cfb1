"""Schema migrations: Alembic revisions that each run one SQL file.

A deploy step, run by a role allowed to change the schema (``python -m
credsync.warehouse migrate`` or the ``warehouse_migrate`` DAG); pipelines only
check the revision (:mod:`credsync.warehouse.revision`).
"""

from __future__ import annotations

from credsync.paths import SQL_DIR

ALEMBIC_DIR = SQL_DIR / "alembic"
MIGRATIONS_DIR = SQL_DIR / "migrations"
# Serialises concurrent migrate() calls (a deploy job next to a triggered warehouse_migrate run, test sessions).
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


def migrate_and_report(url: str, *, where: str, revision: str = "head") -> tuple[str, str]:
    """:func:`migrate`, and one line saying what it did (for the CLI and the warehouse_migrate task log).

    ``where`` names the database (a connection id); the URL may carry a password.
    """
    from credsync.warehouse.revision import current_revision, head_revision

    before = current_revision(url)
    after = migrate(url, revision)
    if before == after:
        return after, f"{where}: already at schema revision {after}; nothing to do"
    return after, (f"{where}: migrated from {before or 'an empty schema'} to {after}"
                   + (" (head)" if after == head_revision() else ""))


def run_sql_file(name: str) -> None:
    """Execute ``include/sql/migrations/<name>`` inside the running Alembic migration."""
    from alembic import op

    op.execute((MIGRATIONS_DIR / name).read_text(encoding="utf-8"))
