"""The national_lrs DAG's Python steps (the DAG file only wires them)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import task

from credsync.dagkit import tenant_task


@task
def national_tenants() -> list[str]:
    """The enabled tenants with a national profile, read at run time so edits need no DAG change."""
    from credsync.tenants import load_tenants

    return [t.tenant_id for t in load_tenants() if t.national]


@tenant_task
def national_profile(tenant: Any) -> dict[str, str]:
    """The tenant's national profile, checked; its LRS Connection id for the next step."""
    from credsync.national_profile import profile_of

    profile = profile_of(tenant)
    if profile is None:
        raise ValueError(f"tenant {tenant.tenant_id} has no national profile")
    return {"lrs_conn_id": profile.lrs_conn_id, "platform": profile.platform}
