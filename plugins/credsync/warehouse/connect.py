"""Opening warehouse connections from a libpq URL or an Airflow connection id."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

WAREHOUSE_CONN_ID = "credsync_warehouse"


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A psycopg 3 connection; ``url`` is any libpq URL (TCP or ``?host=/socket/dir``)."""
    import psycopg

    return psycopg.connect(_libpq_url(url), autocommit=autocommit)


def url_from_connection(conn_id: str = WAREHOUSE_CONN_ID) -> str:
    """The libpq URL of an Airflow connection (reads host, port, schema, login, password, extra)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=conn_id).get_uri()


def sqlalchemy_url(url: str) -> str:
    """The same database as a SQLAlchemy URL using the psycopg 3 driver."""
    libpq = _libpq_url(url)
    return "postgresql+psycopg://" + libpq.split("://", 1)[1]


def _libpq_url(url: str) -> str:
    for prefix in ("postgresql+psycopg2://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url
