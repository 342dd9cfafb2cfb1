"""``python -m credsync.warehouse migrate|check``: the warehouse schema as a deploy step.

    python -m credsync.warehouse migrate [--conn-id credsync_warehouse | --url postgresql://...]
    python -m credsync.warehouse check   [--conn-id credsync_warehouse | --url postgresql://...]

``migrate`` brings the schema to the head revision of include/sql/alembic (a
no-op when it is there; concurrent runs wait for each other) and must run as a
role allowed to change the schema: a superuser, or the owner of the credsync
schemas with CREATEROLE. ``check`` only reads ``audit.alembic_version``, as the
pipelines do, and exits 1 when the schema is not at the head. ``--conn-id``
reads an Airflow Connection (environment ``AIRFLOW_CONN_*``, the metadata
database or a secrets backend, whichever this Airflow is configured with),
extras included; ``--url`` takes a libpq URL and needs no Airflow.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from credsync.warehouse.connect import WAREHOUSE_CONN_ID


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credsync.warehouse", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (("migrate", "apply pending migrations (run as a role allowed to change the schema)"),
                       ("check", "exit 0 when the schema is at the revision this code expects, else 1")):
        command = commands.add_parser(name, help=text, description=text)
        target = command.add_mutually_exclusive_group()
        target.add_argument("--conn-id", default=None,
                            help=f"Airflow Postgres connection id (default {WAREHOUSE_CONN_ID})")
        target.add_argument("--url", default=None, help="libpq URL instead of an Airflow connection")
        if name == "migrate":
            command.add_argument("--revision", default="head", help="revision to upgrade to (default head)")
    args = parser.parse_args(argv)

    from credsync.warehouse.revision import SchemaMismatch, check_schema

    if args.url:
        url, where = args.url, "warehouse (--url)"
    else:
        from credsync.warehouse.connect import url_from_connection

        # Outside a task, Airflow 3 looks a Connection up in AIRFLOW_CONN_* and the secrets backend
        # only, not in the metadata database where `airflow connections add` keeps it, unless the
        # process says it is server-side, as the scheduler and api-server do. A deploy step run next
        # to the metadata database is; without one configured the lookup still ends at the other two.
        os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")
        conn_id = args.conn_id or WAREHOUSE_CONN_ID
        url, where = url_from_connection(conn_id), f"warehouse (connection {conn_id})"

    if args.command == "check":
        try:
            print(f"{where}: at schema revision {check_schema(url, where=where, then='then check again')} (head)")
        except SchemaMismatch as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0

    from credsync.warehouse.migrations import migrate_and_report

    print(migrate_and_report(url, where=where, revision=args.revision)[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
