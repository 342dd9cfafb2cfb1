"""What every credsync DAG shares: default args, assets, tenant mapping, the schema check.

Light to import: DAG files import this at parse time, so nothing heavy here.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, task

OWNER = "data-platform"
WAREHOUSE_CONN_ID = "credsync_warehouse"

DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}

# One asset per core table a load changes; consumers schedule on them.
WORKERS = Asset(name="core.workers", uri="postgres://warehouse:5432/credsync/core/workers", group="credsync")
LEARNERS = Asset(name="core.learners", uri="postgres://warehouse:5432/credsync/core/learners", group="credsync")
COMPLETIONS = Asset(
    name="core.completions", uri="postgres://warehouse:5432/credsync/core/completions", group="credsync"
)
CREDENTIALS = Asset(
    name="core.credentials", uri="postgres://warehouse:5432/credsync/core/credentials", group="credsync"
)
SUBMISSIONS = Asset(
    name="core.registry_submissions",
    uri="postgres://warehouse:5432/credsync/core/registry_submissions",
    group="credsync",
)
WRITEBACKS = Asset(
    name="core.writebacks", uri="postgres://warehouse:5432/credsync/core/writebacks", group="credsync"
)
FINDINGS = Asset(name="recon.findings", uri="postgres://warehouse:5432/credsync/recon/findings", group="credsync")

# Shown in the grid instead of map indexes; a mapped task calls label_tenant() first.
TENANT_MAP_INDEX = "{{ tenant_id }}"


def label_tenant(tenant_id: str) -> None:
    """Make the running mapped task show ``tenant_id`` in the grid (see TENANT_MAP_INDEX)."""
    from airflow.sdk import get_current_context

    get_current_context()["tenant_id"] = tenant_id


@task
def enabled_tenants() -> list[str]:
    """Tenant ids from include/tenants.yaml, read at run time so edits need no DAG change."""
    from credsync.tenants import load_tenants

    return [t.tenant_id for t in load_tenants()]


@task(retries=2)
def check_warehouse_schema(conn_id: str = WAREHOUSE_CONN_ID) -> str:
    """Fail unless the warehouse is at the schema revision this code expects; returns the revision.

    One SELECT of ``audit.alembic_version`` as the runtime role: migrations are a
    deploy step (``python -m credsync.warehouse migrate`` or the ``warehouse_migrate``
    DAG), so the pipelines need no DDL rights. The retries cover a migration that
    is running right now; the message names both revisions and the command to run.
    """
    from credsync.warehouse import check_schema, url_from_connection

    return check_schema(url_from_connection(conn_id), where=f"warehouse (connection {conn_id})")
