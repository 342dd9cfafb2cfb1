"""Alerts of failed reconciliation tasks: a log line and a row in recon.alerts."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def record_alert(warehouse_url: str, *, tenant_id: str, message: str, run_id: str | None = None,
                 dag_id: str | None = None, task_id: str | None = None, dag_run_id: str | None = None) -> None:
    """Insert one alert row (its own transaction, so it survives the failing task's rollback)."""
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        conn.execute(
            "INSERT INTO recon.alerts (tenant_id, run_id, dag_id, task_id, dag_run_id, message) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (tenant_id, run_id, dag_id, task_id, dag_run_id, message),
        )


def on_reconciliation_failure(context: dict[str, Any]) -> None:
    """Airflow ``on_failure_callback``: log the failure and record it in recon.alerts.

    Never raises: an alerting problem must not hide the task's own error.
    """
    try:
        from credsync.warehouse import url_from_connection

        ti = context.get("task_instance") or context.get("ti")
        params = context.get("params") or {}
        tenant_id = (getattr(ti, "rendered_map_index", None) or context.get("tenant_id")
                     or params.get("tenant_id") or "unknown")
        message = f"{getattr(ti, 'task_id', '?')} failed for tenant {tenant_id}: {context.get('exception')}"
        log.error("ALERT reconciliation: %s", message)
        dag_run = context.get("dag_run")
        record_alert(
            url_from_connection(),
            tenant_id=str(tenant_id),
            message=message[:2000],
            dag_id=getattr(ti, "dag_id", None),
            task_id=getattr(ti, "task_id", None),
            dag_run_id=getattr(dag_run, "run_id", None),
        )
    except Exception:  # alerting is best effort; the task failure stands on its own
        log.exception("could not record the reconciliation alert")
