"""warehouse_migrate: bring the warehouse schema to the revision this code expects (manual)."""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from credsync.dagkit import DEFAULT_ARGS, WAREHOUSE_CONN_ID

DOC = """
### warehouse_migrate

Manual: a deploy step, never scheduled. Applies the pending Alembic migrations
of `include/sql/alembic` to the warehouse behind the Postgres connection `conn_id`
(a no-op when the schema is at the head; a second run started at the same time
waits for the first). The same as the command
`python -m credsync.warehouse migrate --conn-id <conn_id>`, for deployments
where a shell next to Airflow is harder to come by than the Trigger button.

**When**: after deploying code that adds a migration. Until then every pipeline
DAG fails in its first task, `check_warehouse_schema`, naming the schema
revision the warehouse is at and the one the code expects; once this run
succeeds, clear those tasks (docs/runbook.md, "Schema behind the code").

**Connection**: migrations create schemas, tables, roles and grants, so
`conn_id` must log in as a role allowed to (a superuser, or the owner of the
credsync schemas with CREATEROLE). In a deployment where `credsync_warehouse`
is the runtime role (a member of `credsync_runtime`, as it should be), point
`conn_id` at a separate, privileged connection, e.g. `credsync_warehouse_admin`.

**Rerun safely**: yes; a migrated schema is left as it is.
Returns the revision the warehouse is at afterwards.
"""


@task
def migrate_schema(params: dict | None = None) -> str:
    """Apply pending migrations through ``params.conn_id``; returns the revision afterwards."""
    import logging

    from credsync.warehouse import url_from_connection
    from credsync.warehouse.migrations import migrate_and_report

    conn_id = (params or {}).get("conn_id") or WAREHOUSE_CONN_ID
    revision, summary = migrate_and_report(url_from_connection(conn_id), where=f"warehouse (connection {conn_id})")
    logging.getLogger(__name__).info(summary)
    return revision


@dag(
    dag_id="warehouse_migrate",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    # A failed migration rolls back (one transaction); a retry starts from the same revision.
    default_args={**DEFAULT_ARGS, "retries": 1},
    doc_md=DOC,
    tags=["credsync", "operations", "warehouse"],
    params={
        "conn_id": Param(WAREHOUSE_CONN_ID, type="string", pattern="^[A-Za-z0-9_.-]{1,250}$",
                         description="Postgres connection of a role allowed to change the schema."),
    },
)
def warehouse_migrate() -> None:
    migrate_schema()


warehouse_migrate()
