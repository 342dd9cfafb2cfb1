"""The warehouse Airflow connection, read the way the Postgres provider reads it.

Only the Airflow path comes through here; plain code and tests pass a libpq URL
to :func:`credsync.warehouse.connect` directly.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.postgres.hooks.postgres import PostgresHook

from credsync.warehouse.connect import libpq_url


class WarehouseHook(PostgresHook):
    """``PostgresHook`` (psycopg 3) that can also hand its connection on as a libpq URL.

    Reads the Connection's host (a hostname, comma-separated hosts, or a Unix socket
    directory starting with ``/``), port, schema (the database), login, password and
    every extra the provider passes to psycopg: ``sslmode``, ``sslrootcert``,
    ``sslcert``, ``sslkey``, ``options``, ``application_name``, ``connect_timeout``,
    ``target_session_attrs``, keepalives... and ``iam`` (the provider's AWS/Azure
    token). The provider's own keys (``cursor``, ``sqlalchemy_*``, ``aws_conn_id``,
    ...) are not connection parameters and stay out.

    The provider uses psycopg 3 by itself whenever psycopg is installed next to
    SQLAlchemy 2 (there is no switch in provider 7.x); ``get_conn()`` is the
    provider's. :meth:`libpq_url` exists because the pipeline's modules, Alembic
    and the GX gate take a URL, and the provider's ``get_uri()`` drops the extras
    and mangles socket directories.
    """

    def connect_kwargs(self) -> dict[str, Any]:
        """The libpq parameters ``get_conn()`` connects with, without connecting.

        Mirrors ``PostgresHook.get_conn`` (provider 7.1.1) except the ``cursor``
        extra, which picks a Python row factory rather than a server setting;
        tests/unit/warehouse pins that the two agree. (In the URL, boolean
        extras become ``1``/``0``: libpq refuses the provider's ``True``.)
        """
        conn = self.connection
        login, password, port = conn.login, conn.password, conn.port
        if conn.extra_dejson.get("iam", False):
            login, password, port = self.get_iam_token(conn)
        params: dict[str, Any] = {
            "host": conn.host,
            "user": login,
            "password": password,
            "dbname": self.database or conn.schema,
            "port": port,
        }
        if self.options:
            params["options"] = self.options
        for name, value in conn.extra_dejson.items():
            if name not in self.ignored_extra_options:
                params[name] = value
        return {name: value for name, value in params.items() if value not in (None, "")}

    def libpq_url(self) -> str:
        """The connection as a ``postgresql://`` URL carrying every parameter of :meth:`connect_kwargs`."""
        params = dict(self.connect_kwargs())
        return libpq_url(
            host=str(params.pop("host", "")),
            port=params.pop("port", None),
            database=str(params.pop("dbname", "")),  # none: libpq's default, the user name
            user=str(params.pop("user", "")),
            password=str(params.pop("password", "")),
            params=params,
        )

