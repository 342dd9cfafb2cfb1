"""Pools and the demo's connections in the local Airflow metadata database, in one process.

``python -m credsync_dev.localenv.metadata`` (run by the demo and ``make airflow``
after ``airflow db migrate``, in the Airflow environment):

- sets the pools of :data:`credsync_dev.localenv.airflow_env.POOLS`;
- stores every ``AIRFLOW_CONN_*`` connection of its environment as a Connection
  row, so ``airflow connections list`` and the UI's Connections page show them
  (the UI and ``connections list`` show no password; ``--show-values`` without
  ``--hide-sensitive`` would). Passwords are encrypted with the Airflow home's
  Fernet key. At run time the environment variables still come first, and they
  carry the same values.

One process instead of one ``airflow pools set`` per pool saves the Airflow
start-up each CLI call pays.
"""

from __future__ import annotations

import os
import sys

from credsync_dev.localenv.airflow_env import POOLS

PREFIX = "AIRFLOW_CONN_"
DESCRIPTION = "credsync demo (sandbox / embedded warehouse; secrets from build/demo/secrets.env)"


def main() -> int:
    # The metadata database's ORM row (what `airflow connections add` writes), not the task SDK's
    # Connection, which only reads.
    from airflow.models import Connection, Pool
    from airflow.utils.session import create_session

    for name, (slots, description) in POOLS.items():
        Pool.create_or_update_pool(name, slots, description, include_deferred=False)
    stored = []
    with create_session() as session:
        for key in sorted(k for k in os.environ if k.startswith(PREFIX)):
            conn_id = key[len(PREFIX):].lower()
            wanted = Connection.from_json(os.environ[key], conn_id=conn_id)  # noqa: AIR311
            wanted.description = DESCRIPTION
            rows = session.query(Connection)  # noqa: AIR311
            existing = rows.filter(Connection.conn_id == conn_id).one_or_none()  # noqa: AIR311
            if existing is None:
                session.add(wanted)
            else:
                for attr in ("conn_type", "description", "host", "login", "schema", "port", "password", "extra"):
                    setattr(existing, attr, getattr(wanted, attr))
            stored.append(conn_id)
    print(f"pools: {', '.join(POOLS)}; connections: {', '.join(stored)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
