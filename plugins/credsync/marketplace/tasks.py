"""The marketplace_sync DAG's Python steps (the DAG file only wires them)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import task

from credsync.dagkit import tenant_task


@task
def marketplace_tenants() -> list[str]:
    """The enabled tenants with a marketplace profile, read at run time so edits need no DAG change."""
    from credsync.marketplace.profile import load_profiles

    return sorted(load_profiles())


@tenant_task
def marketplace_profile(tenant: Any) -> dict[str, str]:
    """The tenant's marketplace profile, checked; its Connection id for the next steps."""
    from credsync.marketplace.profile import profile_of

    profile = profile_of(tenant.tenant_id)
    if profile is None:
        raise ValueError(f"tenant {tenant.tenant_id} has no marketplace profile")
    return {"conn_id": profile.conn_id}
