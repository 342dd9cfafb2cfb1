"""What the group push task does, as a plain function over a warehouse URL and Connection ids.

Airflow Connections are read here, lazily (the hooks import the provider), so the rest of
:mod:`credsync.groups` imports without Airflow.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


class GroupPushFailed(RuntimeError):
    """Some groups were not pushed, or the IdP listing was refused; the rest is committed."""


def refresh_idp_claims(warehouse_url: str, tenant_id: str, idp_conn_id: str, *,
                       dag_run_id: str | None = None) -> dict[str, Any]:
    """Stage → gate → merge the tenant's IdP claims; ``{"idp": "not configured"}`` without a Connection."""
    from airflow.exceptions import AirflowNotFoundException

    from credsync.groups import idp_ingest
    from credsync.hooks.idp import IdpHook

    hook = IdpHook(idp_conn_id, tenant_id)
    try:
        hook.connection  # noqa: B018 - look the Connection up before any work
    except AirflowNotFoundException:
        # A tenant without an IdP is a valid setup: its groups come from HRIS attributes only.
        log.info("tenant %s: no IdP connection %r; groups from HRIS attributes only", tenant_id, idp_conn_id)
        return {"idp": "not configured"}
    staged = idp_ingest.extract_and_stage(warehouse_url, tenant_id=tenant_id, idp=hook.client(),
                                          dag_run_id=dag_run_id)
    return idp_ingest.merge(warehouse_url, idp_ingest.gate(warehouse_url, staged))


def push_tenant_groups(warehouse_url: str, tenant_id: str, *, scim_conn_id: str, idp_conn_id: str | None,
                       full: bool = False, dag_run_id: str | None = None) -> dict[str, Any]:
    """IdP claims (when the tenant has an IdP), then Group Push; raises :class:`GroupPushFailed` at the end
    when the IdP listing was refused or a group failed, after pushing everything else."""
    from credsync.groups.push import push_groups
    from credsync.groups.scim_groups import ScimGroups
    from credsync.hooks.scim import ScimHook
    from credsync.ingest.gate import BatchRejected
    from credsync.warehouse import connect

    problems: list[str] = []
    idp: dict[str, Any] = {}
    if idp_conn_id:
        try:
            idp = refresh_idp_claims(warehouse_url, tenant_id, idp_conn_id, dag_run_id=dag_run_id)
        except BatchRejected as exc:
            # The last good claims stay in core; the push goes on with them, and the task fails after.
            problems.append(f"IdP claims refused by the gate (groups pushed with the last good claims): {exc}")
    scim = ScimGroups(ScimHook(scim_conn_id, tenant_id).client())
    with connect(warehouse_url) as conn:
        report = push_groups(conn, scim, tenant_id=tenant_id, full=full, dag_run_id=dag_run_id)
    result = {**report.as_dict(), "idp": idp}
    log.info("tenant %s: group push %s", tenant_id, result)
    if report.failed:
        problems.append(f"{len(report.failed)} group(s) failed: {', '.join(report.failed)}; see core.group_actions")
    if problems:
        raise GroupPushFailed(f"tenant {tenant_id}: " + "; ".join(problems))
    return result
