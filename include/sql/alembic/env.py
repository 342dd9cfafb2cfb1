"""Alembic environment: runs the SQL migrations under include/sql/migrations."""

from alembic import context
from sqlalchemy import create_engine, text

url = context.config.get_main_option("sqlalchemy.url")
engine = create_engine(url)
with engine.connect() as connection:
    # The version table lives in audit, so that schema must exist before the first revision.
    connection.execute(text("CREATE SCHEMA IF NOT EXISTS audit"))
    connection.commit()
    context.configure(connection=connection, version_table_schema="audit")
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
