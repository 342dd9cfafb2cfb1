"""``python -m credsync_dev.localenv.psql [psql args]``: a psql session on the demo's warehouse.

Uses ``CREDSYNC_DATABASE_URL`` when it is set and answers, else starts (or
joins) the embedded Postgres under ``build/pgdata`` and connects to its
``credsync`` database over the Unix socket there; the embedded server stops
again when psql exits unless the demo or ``make airflow`` still uses it. The
``psql`` is the system's when installed, else the one the pgserver wheel ships.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from credsync.paths import BUILD_DIR
from credsync_dev.localenv.postgres import ensure_server
from credsync_dev.localenv.summary import psql_args


def main(argv: list[str] | None = None) -> int:
    server = ensure_server(BUILD_DIR / "pgdata")
    try:
        url = server.database_url("credsync") if server.embedded else server.url
        command = [psql_binary(), *psql_args(url), *(argv if argv is not None else sys.argv[1:])]
        return subprocess.call(command)
    finally:
        server.stop()


def psql_binary() -> str:
    found = shutil.which("psql")
    if found:
        return found
    import pgserver

    return str(Path(pgserver.__file__).parent / "pginstall" / "bin" / "psql")


if __name__ == "__main__":
    sys.exit(main())
