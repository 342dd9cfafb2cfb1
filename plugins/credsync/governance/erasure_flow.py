"""The erasure workflow's steps, for dags/erasure.py and the HRIS webhook receiver.

An erasure request reaches credsync two ways:

- **HRIS**: the HRIS's privacy tooling sends ``worker.erasure_requested`` (signed, like every HRIS
  webhook; credsync.people.webhooks verifies and records it in audit.hris_webhook_events). The
  receiver (credsync.people.webhook_app.trigger_erasure) triggers an ``erasure`` run whose conf
  names the tenant and the event id only: the employee id is read from the recorded event (which
  the erasure then rewrites), so it never sits in Airflow's dag_run table.
- **Manual**: a run of ``erasure`` with Params ``tenant_id`` and ``employee_id`` (and a
  ``request_id``: the ticket). Airflow keeps a run's conf, so prefer the request id of a recorded
  request for reruns (``employee_id`` empty).

Either way the request id is the idempotency key: a rerun finds the request done and nothing left.
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

DAG_ID = "erasure"
ERASURE_EVENT = "worker.erasure_requested"
REPORT_FOLDER, REPORT_ENV = "reports", "CREDSYNC_REPORT_STORE"


def request_from_conf(conf: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
    """The request a run carries out: {tenant_id, request_id, employee_id | None, source, event_id | None};
    None when the run names none (the Trigger button with the defaults: nothing to do)."""
    hris = conf.get("hris_erasure") or {}
    if hris:
        return {"tenant_id": hris["tenant_id"], "request_id": f"hris:{hris['event_id']}", "employee_id": None,
                "source": "hris", "event_id": hris["event_id"]}
    tenant_id = (params.get("tenant_id") or "").strip()
    employee_id = (params.get("employee_id") or "").strip() or None
    request_id = (params.get("request_id") or "").strip()
    if not (tenant_id or employee_id or request_id):
        return None
    if not tenant_id or not request_id:
        raise ValueError("a manual erasure needs Params tenant_id and request_id (the ticket), and employee_id "
                         "unless the request is already recorded")
    return {"tenant_id": tenant_id, "request_id": f"manual:{request_id}", "employee_id": employee_id,
            "source": "manual", "event_id": None, "mode": params.get("mode") or None}


def subject_of_event(conn: Any, tenant_id: str, event_id: str) -> str | None:
    """The employee id of a recorded ``worker.erasure_requested`` event (None: not recorded, or already rewritten)."""
    row = conn.execute("SELECT employee_id FROM audit.hris_webhook_events WHERE tenant_id = %s AND event_id = %s"
                       " AND type = %s", (tenant_id, event_id, ERASURE_EVENT)).fetchone()
    return row[0] if row else None


def run_request(warehouse_url: str, request: dict[str, Any], *, key: bytes | None = None,
                store_roots: Any = None, report_dir: Any = None) -> dict[str, Any]:
    """Carry out one erasure request in one transaction; the report (no original values) is returned and
    written as JSON to the report store (``reports/<tenant>/erasure/<request>.json``) when one is configured."""
    from credsync.governance.erasure import erase_worker
    from credsync.warehouse import connect

    tenant_id = request["tenant_id"]
    with connect(warehouse_url) as conn:
        employee_id = request.get("employee_id")
        if employee_id is None and request.get("event_id"):
            employee_id = subject_of_event(conn, tenant_id, request["event_id"])
        report = erase_worker(conn, tenant_id, employee_id, request_id=request["request_id"],
                              source=request["source"], mode=request.get("mode"), key=key, store_roots=store_roots)
        conn.commit()
    result = report.as_dict()
    log.info("tenant %s: erasure %s (%s) changed %d places: %s", tenant_id, request["request_id"], report.mode,
             report.changed, json.dumps({"tables": report.tables, "deleted": report.deleted,
                                         "audit_events": report.audit_events, "files": len(report.files)}))
    result["report_file"] = _write_report(tenant_id, result, report_dir)
    return result


def _write_report(tenant_id: str, result: dict[str, Any], report_dir: Any) -> str | None:
    from credsync.objects import ObjectStoreNotConfigured, store_path, write_atomically

    try:
        root = store_path(REPORT_FOLDER, REPORT_ENV, report_dir)
    except ObjectStoreNotConfigured:
        return None
    safe = hashlib.sha256(result["request_id"].encode()).hexdigest()[:16]
    path = root / tenant_id / "erasure" / f"erasure_{safe}.json"
    if result["changed"] or not path.exists():  # a rerun that changed nothing keeps the first run's report
        body = {**result, "written_at": datetime.now(UTC).isoformat()}
        write_atomically(path, json.dumps(body, indent=2, sort_keys=True).encode())
    return str(path)
