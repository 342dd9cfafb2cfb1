"""Erasure requests: a worker's personal data erased or pseudonymised everywhere credsync holds it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from airflow.sdk import Param, dag, get_current_context, task

from credsync.dagkit import DEFAULT_ARGS, WAREHOUSE_CONN_ID, check_warehouse_schema, tenant_task

if TYPE_CHECKING:
    from credsync.tenants import Tenant

DOC_MD = """
### Erasure (`erasure`)

**What**: carries out erasure requests (GDPR Art. 17 / CCPA deletion). The HRIS's privacy tooling
sends `worker.erasure_requested` to the HRIS webhook receiver, which triggers a run of this DAG with
the tenant and event id only; an operator triggers one by hand with Params `tenant_id`, `request_id`
(the ticket) and `employee_id`. Every worker value credsync holds (employee id, names, e-mails, user
names, national id) is replaced in every table of every credsync schema, the audit payloads are
tombstoned (the chain stays verifiable) and the tenant's object-store files are rewritten.

**Erase or pseudonymise**: the tenant's `erasure.keep_records` rules (include/tenants.yaml) name who
has a legal basis to keep records (contractors, alumni): their values become keyed pseudonyms
(same worker, same pseudonym, so records still join), the mapping encrypted in `vault.pseudonyms`.
Everyone else's become random tokens with no mapping, and their staging rows are deleted.
Re-identification: only `python -m credsync.governance reidentify` with a listed approver and a
reason, audited (docs/governance.md).

**Inputs**: connections `credsync_warehouse` and `credsync_pseudonym_key` (password: the master secret).
**Outputs**: `core.erasure_requests` (one row per request, with its report), audit events
`worker_erased` / `worker_pseudonymised` and `audit.payloads_redacted`, a JSON report per request
under `reports/<tenant>/erasure/` in the object store. No original value is logged or put in XCom.

**Rerun safely**: clear any task or the whole run: a finished request finds nothing left and changes
nothing (the report says `changed: 0`). A failed run changed nothing (one transaction) and the next
run finishes it.
"""


@task
def requests() -> list[dict]:
    """The requests of this run, one mapped item per tenant (the HRIS event in conf, or the Params)."""
    from credsync.governance.erasure_flow import request_from_conf

    context = get_current_context()
    conf = (context["dag_run"].conf or {}) if context.get("dag_run") else {}
    request = request_from_conf(conf, context["params"])
    if request is None:
        return []  # triggered without a request: nothing to erase
    # XCom never carries the employee id: the erase task reads it from the Params itself.
    return [{"tenant_id": request["tenant_id"], "request": {**request, "employee_id": None}}]


@tenant_task
def erase(tenant: Tenant, request: dict) -> dict:
    """Erase or pseudonymise the request's worker at this tenant; returns the report (no original values)."""
    from credsync.governance.erasure_flow import run_request
    from credsync.warehouse import url_from_connection

    if request["source"] == "manual":
        request = {**request, "employee_id": (get_current_context()["params"].get("employee_id") or "").strip() or None}
    return run_request(url_from_connection(WAREHOUSE_CONN_ID), {**request, "tenant_id": tenant.tenant_id})


@dag(
    dag_id="erasure",
    schedule=None,
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    doc_md=DOC_MD,
    tags=["credsync", "governance", "erasure"],
    params={
        "tenant_id": Param("", type=["null", "string"],
                           description="Manual request: the tenant (include/tenants.yaml)."),
        "request_id": Param("", type=["null", "string"], description="Manual request: the ticket or request id; the "
                                                            "idempotency key (a rerun with it does nothing more)."),
        "employee_id": Param("", type=["null", "string"], description="Manual request: the worker's employee id (empty "
                                                             "to rerun a recorded request)."),
        "mode": Param(None, type=["null", "string"], enum=[None, "erase", "pseudonymise"],
                      description="Override the tenant's policy (empty: the policy decides)."),
    },
)
def erasure() -> None:
    pending = requests()
    check_warehouse_schema() >> pending
    erase.expand_kwargs(pending)


erasure()
