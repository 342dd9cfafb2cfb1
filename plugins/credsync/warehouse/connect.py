"""Opening warehouse connections from a libpq URL or an Airflow connection id."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

if TYPE_CHECKING:
    import psycopg

WAREHOUSE_CONN_ID = "credsync_warehouse"


def connect(url: str, *, autocommit: bool = False) -> psycopg.Connection:
    """A psycopg 3 connection; ``url`` is any libpq URL (TCP or ``?host=/socket/dir``, extras in the query)."""
    import psycopg

    return psycopg.connect(_libpq_url(url), autocommit=autocommit)


def url_from_connection(conn_id: str = WAREHOUSE_CONN_ID) -> str:
    """The libpq URL of an Airflow Postgres connection, read by the Postgres provider's ``PostgresHook``.

    Carries host (a hostname, or a Unix socket directory starting with ``/``),
    port, schema (the database), login, password and every extra the provider
    connects with (``sslmode``, ``sslrootcert``, ``options``, ``application_name``,
    ``connect_timeout``, ...): see :class:`credsync.warehouse.hook.WarehouseHook`.
    """
    from credsync.warehouse.hook import WarehouseHook

    return WarehouseHook(postgres_conn_id=conn_id).libpq_url()


def libpq_url(
    *,
    host: str,
    port: int | str | None,
    database: str,
    user: str,
    password: str = "",
    params: dict[str, Any] | None = None,
) -> str:
    """Build a libpq URL; socket directories and every other parameter go in the query string.

    Values are percent-encoded with ``%20`` for spaces (libpq does not read ``+``
    as a space), booleans become ``1``/``0`` as libpq expects.
    """
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    query: dict[str, str] = {}
    netloc = ""
    if host.startswith("/"):
        query["host"] = host
        if port:
            query["port"] = str(port)
    elif host:
        netloc = ",".join(_bracketed(h) for h in host.split(","))
        if port and "," not in host:
            netloc += f":{port}"
        elif port:
            query["port"] = str(port)  # one port for every listed host
    for name, value in (params or {}).items():
        query[name] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    url = f"postgresql://{auth}@{netloc}/{quote(database, safe='')}"
    return url + ("?" + urlencode(query, quote_via=quote) if query else "")


def sqlalchemy_url(url: str) -> str:
    """The same database as a SQLAlchemy URL using the psycopg 3 driver."""
    libpq = _libpq_url(url)
    return "postgresql+psycopg://" + libpq.split("://", 1)[1]


def _libpq_url(url: str) -> str:
    for prefix in ("postgresql+psycopg2://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def _bracketed(host: str) -> str:
    # An IPv6 literal needs brackets in a URL's authority.
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
