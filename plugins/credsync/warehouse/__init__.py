"""The credsync warehouse: connections, migrations, the schema check and bulk loads (psycopg 3)."""

from credsync.warehouse.connect import connect, sqlalchemy_url, url_from_connection
from credsync.warehouse.migrations import migrate
from credsync.warehouse.revision import SchemaBehind, SchemaMismatch, check_schema, head_revision

__all__ = [
    "SchemaBehind",
    "SchemaMismatch",
    "check_schema",
    "connect",
    "head_revision",
    "migrate",
    "sqlalchemy_url",
    "url_from_connection",
]
