"""Residency: a tenant's personal data goes only to destinations in the regions its policy allows.

- A tenant's policy is ``residency: {allowed_regions: [...]}`` in include/tenants.yaml; a tenant
  without one has no restriction (and the data-flow report says so).
- A destination declares its region in its Connection's extra ``region`` (where the system the
  Connection points at keeps data: a deployment fact, kept with the URL and the secret).
- Every outside call goes through :class:`credsync.hooks.base.CredsyncHttpHook`, which calls
  :func:`enforce` before it builds a client for a tenant: a destination outside the policy, or one
  that declares no region, fails closed — nothing is sent — with :class:`ResidencyViolation`
  naming tenant, connection, region and policy, and an audit event (``residency_refused``).
- The object store is a destination too: payroll CSVs and reconciliation reports carry personal
  data. Its region is declared by the Connection its URL names (``s3://conn_id@bucket``: extra
  ``region``), else by ``$CREDSYNC_OBJECT_STORE_REGION`` (a ``file://`` mount has no Connection);
  :func:`enforce_store` is called before a tenant's file is written.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)


class ResidencyViolation(RuntimeError):
    """A tenant's data would go to a region its residency policy does not allow; nothing was sent."""


STORE_REGION_ENV = "CREDSYNC_OBJECT_STORE_REGION"


def enforce(tenant_id: str, conn_id: str, service: str, region: str | None, *,
            declared_in: str = "extra 'region'") -> None:
    """Raise :class:`ResidencyViolation` when ``tenant_id``'s policy does not allow ``region``."""
    from credsync.tenants import load_tenants

    # Not a tenant of include/tenants.yaml (a hook built outside the DAGs): no policy to apply. The
    # tenant tasks themselves only run for configured tenants (credsync.tenants.get_tenant).
    tenant = next((t for t in load_tenants(enabled_only=False) if t.tenant_id == tenant_id), None)
    allowed = tenant.allowed_regions if tenant else None
    if allowed is None:
        return
    if region in allowed:
        return
    said = f"declares region {region!r}" if region else f"declares no region ({declared_in})"
    message = (f"residency: tenant {tenant_id}'s data may go only to {', '.join(allowed)}; connection {conn_id!r} "
               f"({service}) {said}. Nothing was sent. Fix the Connection's region if it is wrong, or change the "
               "tenant's residency.allowed_regions in include/tenants.yaml if the transfer is allowed "
               "(docs/runbook.md, 'Residency')")
    _audit(tenant_id, conn_id, service, region, allowed)
    raise ResidencyViolation(message)


def store_region(path: Any) -> tuple[str, str | None, str]:
    """Who declares an object-store location's region, the region, and where it is declared."""
    conn_id = getattr(path, "conn_id", None)
    if conn_id:
        return conn_id, connection_region(conn_id), "extra 'region'"
    return "object store", os.environ.get(STORE_REGION_ENV, "").strip() or None, f"${STORE_REGION_ENV}"


def enforce_store(tenant_id: str, path: Any, what: str) -> None:
    """Refuse to write ``tenant_id``'s ``what`` (payroll CSV, report, ...) to a store outside its regions."""
    conn_id, region, declared_in = store_region(path)
    enforce(tenant_id, conn_id, f"object store, {what}", region, declared_in=declared_in)


def connection_region(conn_id: str) -> str | None:
    """A Connection's extra ``region``; None when it declares none or does not exist."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk.bases.hook import BaseHook

    try:
        return BaseHook.get_connection(conn_id).extra_dejson.get("region")
    except AirflowNotFoundException:
        return None


def _audit(tenant_id: str, conn_id: str, service: str, region: str | None, allowed: tuple[str, ...]) -> None:
    from credsync.audit.chain import append_event
    from credsync.warehouse import connect, url_from_connection

    try:
        with connect(url_from_connection()) as conn:
            append_event(conn, tenant_id=tenant_id, event_type="residency_refused", entity_type="connection",
                         entity_key=conn_id, detail={"service": service, "region": region,
                                                     "allowed_regions": list(allowed)})
            conn.commit()
    except Exception:  # the refusal stands whether or not the audit write worked
        log.exception("residency: could not record the refused transfer of tenant %s to %s in the audit chain",
                      tenant_id, conn_id)
