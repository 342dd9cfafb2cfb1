"""A reachable Postgres for the demo and the tests, on any machine.

Uses ``CREDSYNC_DATABASE_URL`` when it is set and answers; otherwise starts an
embedded PostgreSQL (the ``pgserver`` wheel) under ``build/`` that the project
manages itself, so nothing has to be installed or started by hand.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from credsync.paths import BUILD_DIR

log = logging.getLogger(__name__)
ENV_URL = "CREDSYNC_DATABASE_URL"
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass
class PostgresServer:
    """A server URL (pointing at its maintenance database) and how it was obtained."""

    url: str
    embedded: bool
    _handle: Any = None

    def database_url(self, name: str) -> str:
        """The URL of database ``name`` on this server."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path="/" + name))

    def create_database(self, name: str) -> str:
        """Create ``name`` if missing and return its URL."""
        _check_name(name)
        from credsync.warehouse import connect

        with connect(self.url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    def drop_database(self, name: str) -> None:
        _check_name(name)
        from credsync.warehouse import connect

        with connect(self.url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def temporary_database_name(self, prefix: str) -> str:
        return f"{prefix}_{uuid.uuid4().hex[:10]}"

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cleanup()
            self._handle = None


def ensure_server(data_dir: Path | None = None) -> PostgresServer:
    """A running Postgres: the configured one if reachable, else the embedded one."""
    url = os.environ.get(ENV_URL)
    if url:
        if is_reachable(url):
            return PostgresServer(url=url, embedded=False)
        log.warning("%s is set but not reachable; starting the embedded Postgres instead", ENV_URL)
    return start_embedded(data_dir or BUILD_DIR / "pgdata")


def start_embedded(data_dir: Path) -> PostgresServer:
    """Start (or reuse) the embedded PostgreSQL under ``data_dir``; Unix socket only."""
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    # 'stop' shuts the server down when the last process using it exits.
    handle = pgserver.get_server(str(data_dir), cleanup_mode="stop")
    return PostgresServer(url=handle.get_uri(), embedded=True, _handle=handle)


def is_reachable(url: str, timeout_s: int = 3) -> bool:
    import psycopg

    from credsync.warehouse.connect import _libpq_url

    try:
        with psycopg.connect(_libpq_url(url), connect_timeout=timeout_s) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _check_name(name: str) -> None:
    if not _DB_NAME.match(name):
        raise ValueError(f"database name {name!r} must match {_DB_NAME.pattern}")
