"""Opening warehouse connections from a libpq URL or an Airflow connection id."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    import psycopg

WAREHOUSE_CONN_ID = "credsync_warehouse"


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A psycopg 3 connection; ``url`` is any libpq URL (TCP or ``?host=/socket/dir``)."""
    import psycopg

    return psycopg.connect(_libpq_url(url), autocommit=autocommit)


def url_from_connection(conn_id: str = WAREHOUSE_CONN_ID) -> str:
    """The libpq URL of an Airflow Postgres connection.

    Reads host (a hostname, or a Unix socket directory starting with ``/``), port,
    schema (the database), login and password.
    """
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    return libpq_url(
        host=conn.host or "",
        port=conn.port,
        database=conn.schema or "postgres",
        user=conn.login or "",
        password=conn.password or "",
    )


def libpq_url(*, host: str, port: int | None, database: str, user: str, password: str = "") -> str:
    """Build a libpq URL; socket directories go in the query string, as libpq expects."""
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    if host.startswith("/"):
        query = {"host": host, **({"port": str(port)} if port else {})}
        return f"postgresql://{auth}@/{quote(database)}?{urlencode(query)}"
    netloc = host + (f":{port}" if port else "")
    return f"postgresql://{auth}@{netloc}/{quote(database)}"


def sqlalchemy_url(url: str) -> str:
    """The same database as a SQLAlchemy URL using the psycopg 3 driver."""
    libpq = _libpq_url(url)
    return "postgresql+psycopg://" + libpq.split("://", 1)[1]


def _libpq_url(url: str) -> str:
    for prefix in ("postgresql+psycopg2://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url
