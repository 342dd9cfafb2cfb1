"""The Airflow tasks of the delivery DAGs (registry_push, recertification, hris_writeback, dlq_replay).

DAG files import these to wire them; each task maps over one tenant, returns
a small counts dict to XCom and imports its heavy modules inside the body.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from airflow.sdk import get_current_context, task

from credsync.dagkit import WAREHOUSE_CONN_ID, fail_without_retry, tenant_task
from credsync.delivery.config import REGISTRY_POOL

if TYPE_CHECKING:
    from credsync.tenants import Tenant


def _as_of() -> date:
    """The day a run stands for: its logical date (trigger time), else today, in UTC."""
    context = get_current_context()
    moment = context.get("logical_date") or context["dag_run"].run_after or datetime.now(UTC)
    return moment.astimezone(UTC).date()


def _hris_client(tenant: Tenant) -> Any:
    from credsync.delivery.config import load_delivery_settings
    from credsync.hooks.hris import HrisHook
    from credsync.hooks.policy import Timeouts

    settings = load_delivery_settings()
    timeouts = Timeouts(min(5.0, settings.writeback.timeout_seconds), settings.writeback.timeout_seconds)
    return HrisHook(tenant.conn_id("hris"), tenant.tenant_id, method="PUT", policy=settings.registry.retry,
                    timeouts=timeouts).client()


def _registry_client(tenant: Tenant) -> Any:
    from credsync.delivery.config import load_delivery_settings
    from credsync.hooks.registry import RegistryHook

    return RegistryHook(tenant.conn_id("registry"), tenant.tenant_id,
                        **load_delivery_settings().registry.client_options()).get_client()


def _notification_client(tenant: Tenant) -> Any:
    from credsync.delivery.config import load_delivery_settings
    from credsync.hooks.registry import RegistryHook

    return RegistryHook(tenant.conn_id("registry"), tenant.tenant_id,
                        **load_delivery_settings().registry.client_options()).notification_client()


def _warehouse_url() -> str:
    from credsync.warehouse import url_from_connection

    return url_from_connection(WAREHOUSE_CONN_ID)


def _checkpoint_audit(tenant_id: str) -> None:
    """Sign the tenant's audit chain head into the object store, after the task's work committed."""
    from credsync.audit.store import checkpoint_tenant

    checkpoint_tenant(_warehouse_url(), tenant_id)


@tenant_task
def expire_and_remind(tenant: Tenant) -> dict[str, Any]:
    """Expire credentials past their expiry date and record due reminders (warehouse only)."""
    from credsync.delivery import recertification
    from credsync.delivery.config import load_delivery_settings

    tenant_id = tenant.tenant_id
    counts = recertification.expire_and_remind(_warehouse_url(), tenant_id, _as_of(),
                                               load_delivery_settings()).as_counts()
    _checkpoint_audit(tenant_id)
    return counts


@task
def check_status_request() -> dict[str, int]:
    """Refuse the run's status change params whole (no reason, unknown id, undoing a revocation)
    before any tenant's task applies part of them; not retried: the same params fail the same way."""
    from credsync.credentials.status_changes import StatusChangeRefused, StatusRequest, check_request
    from credsync.warehouse import connect

    request = StatusRequest.from_params(get_current_context()["params"])
    with fail_without_retry(StatusChangeRefused), connect(_warehouse_url()) as conn:
        named = check_request(conn, request)
    return {action: len(getattr(request, action)) for action in ("revoke", "suspend", "unsuspend")} \
        | {"credentials": len(named)}


@tenant_task
def update_credential_status(tenant: Tenant) -> dict[str, Any]:
    """The run's manual revocations and (un)suspensions, the HRIS leave holds, then the republished lists."""
    from credsync.credentials.status_changes import StatusChangeRefused, StatusRequest, update_status
    from credsync.warehouse import connect

    tenant_id = tenant.tenant_id
    context = get_current_context()
    request = StatusRequest.from_params(context["params"])
    with fail_without_retry(StatusChangeRefused), connect(_warehouse_url()) as conn:
        counts = update_status(conn, tenant_id, request, run_id=context["run_id"]).as_counts()
    _checkpoint_audit(tenant_id)
    return counts


@tenant_task(pool=REGISTRY_POOL)
def revoke_in_registry(tenant: Tenant) -> dict[str, Any]:
    """Enqueue and send revocations (and any unfinished issues) for one tenant."""
    from credsync.delivery.push import push_submissions

    tenant_id = tenant.tenant_id
    counts = push_submissions(_warehouse_url(), tenant_id, _registry_client(tenant)).as_counts()
    _checkpoint_audit(tenant_id)
    return counts


@tenant_task
def write_back(tenant: Tenant) -> dict[str, Any]:
    """HRIS profile lines and payroll flags that changed, plus today's payroll CSV."""
    from credsync.delivery.config import load_delivery_settings
    from credsync.delivery.writeback import sync_writebacks

    tenant_id = tenant.tenant_id
    settings = load_delivery_settings()
    counts = sync_writebacks(_warehouse_url(), tenant_id, _hris_client(tenant), as_of=_as_of(),
                             payroll_dir=settings.writeback.payroll_csv_dir).as_counts()
    _checkpoint_audit(tenant_id)
    return counts


@task
def replay_tenants(tenant: str) -> list[str]:
    """The tenants a dlq_replay run covers: one, or every enabled tenant for ``all``."""
    from credsync.tenants import load_tenants

    enabled = [t.tenant_id for t in load_tenants()]
    if tenant == "all":
        return enabled
    if tenant not in enabled:
        raise ValueError(f"tenant {tenant!r} is not an enabled tenant (enabled: {', '.join(enabled)})")
    return [tenant]


@tenant_task(pool=REGISTRY_POOL)
def replay_dead_letters(tenant: Tenant) -> dict[str, Any]:
    """Replay one tenant's open dead letters as the run's params say (dry_run lists only)."""
    from credsync.delivery.config import load_delivery_settings
    from credsync.delivery.replay import replay_dead_letters as replay

    tenant_id = tenant.tenant_id
    params = get_current_context()["params"]
    source = params["source"]
    dry_run = bool(params["dry_run"])
    counts = replay(
        _warehouse_url(), tenant_id, source=source, reason=params.get("reason") or None,
        max_records=int(params["max_records"]), dry_run=dry_run,
        registry_client=None if dry_run or source in ("hris_writeback", "registry_notification", "marketplace")
        else _registry_client(tenant),
        hris_client=None if dry_run or source in ("registry", "registry_notification", "marketplace")
        else _hris_client(tenant),
        payroll_dir=load_delivery_settings().writeback.payroll_csv_dir, as_of=_as_of(),
        notification_client=None if dry_run or source not in ("all", "registry_notification")
        else lambda: _notification_client(tenant),
    ).as_counts()
    if not dry_run:
        _checkpoint_audit(tenant_id)
    return counts
