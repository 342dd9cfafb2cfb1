"""What every credsync DAG shares: default args, assets, tenant tasks and their labels, the schema check.

Light to import: DAG files import this at parse time, so nothing heavy here.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from airflow.sdk import Asset, task

from credsync.tenant_labels import TENANT_MAP_INDEX, keep_label_on_retry

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

def tenant_task(python_callable: Callable[..., Any] | None = None, **task_kwargs: Any) -> Any:
    """``@task`` for one tenant's step, the one way a tenant task is written.

    The function takes the :class:`credsync.tenants.Tenant` as its first parameter (looked up once,
    with :func:`credsync.tenants.get_tenant`, when the task runs); the task takes the tenant id, by
    position or keyword, and is labelled with it in the grid (:data:`TENANT_MAP_INDEX`)::

        @tenant_task
        def gate(tenant: Tenant, staged: dict) -> dict: ...

        gate(tenant_id, staged)            # in a mapped task group
        gate.expand(tenant_id=tenants)     # mapped over the tenants
    """
    task_kwargs.setdefault("map_index_template", TENANT_MAP_INDEX)

    def decorate(function: Callable[..., Any]) -> _TenantTask:
        return _TenantTask(task(**task_kwargs)(_taking_tenant_id(function)))

    return decorate(python_callable) if python_callable is not None else decorate


def _taking_tenant_id(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function(tenant, *rest)`` as ``run(*rest, tenant_id=...)``: the task receives ``tenant_id`` as a
    keyword, so the label template finds it in ``op_kwargs`` however the DAG passed it."""
    signature = inspect.signature(function)
    first, *rest = signature.parameters.values()
    if first.name != "tenant":
        raise TypeError(f"{function.__qualname__}: a tenant task's first parameter is 'tenant' (the Tenant)")

    @functools.wraps(function)
    def run(*args: Any, tenant_id: str, **kwargs: Any) -> Any:
        from credsync.tenants import get_tenant

        keep_label_on_retry()  # this process's runner keeps the label when the try is retried
        return function(get_tenant(tenant_id), *args, **kwargs)

    keyword = inspect.Parameter("tenant_id", inspect.Parameter.KEYWORD_ONLY, annotation=str)
    positional = [p for p in rest if p.kind is not inspect.Parameter.KEYWORD_ONLY]
    keyword_only = [p for p in rest if p.kind is inspect.Parameter.KEYWORD_ONLY]
    run.__signature__ = signature.replace(parameters=[*positional, keyword, *keyword_only])  # type: ignore[attr-defined]
    del run.__wrapped__  # Airflow reads the signature above, not the function's
    return run


class _TenantTask:
    """A decorated tenant task whose call takes the tenant id first (``gate(tenant_id, staged)``)."""

    def __init__(self, decorated: Any) -> None:
        self._decorated = decorated

    def __call__(self, tenant_id: Any, *args: Any, **kwargs: Any) -> Any:
        return self._decorated(*args, tenant_id=tenant_id, **kwargs)

    def override(self, **kwargs: Any) -> _TenantTask:
        return _TenantTask(self._decorated.override(**kwargs))

    def __getattr__(self, name: str) -> Any:  # expand, partial, function, ...
        return getattr(self._decorated, name)


@contextmanager
def fail_without_retry(*errors: type[BaseException]) -> Iterator[None]:
    """Turn ``errors`` (a refused batch, a breached gate: a retry would see the same) into a failure
    Airflow does not retry; the message is the error's."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except errors as exc:
        raise AirflowFailException(str(exc)) from None


def _label_retries_in_task_processes() -> None:
    """In a task process (the runner imports DAG files after itself) keep grid labels across retries,
    for operators too (credsync.tenant_labels.keep_label_on_retry); elsewhere (DAG parsing) a no-op."""
    import sys

    if "airflow.sdk.execution_time.task_runner" in sys.modules:
        keep_label_on_retry()


_label_retries_in_task_processes()


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
