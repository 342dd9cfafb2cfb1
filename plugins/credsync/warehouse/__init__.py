"""The credsync warehouse: connections, migrations and bulk loads (psycopg 3)."""

from credsync.warehouse.connect import connect, sqlalchemy_url, url_from_connection
from credsync.warehouse.migrations import migrate

__all__ = ["connect", "migrate", "sqlalchemy_url", "url_from_connection"]
