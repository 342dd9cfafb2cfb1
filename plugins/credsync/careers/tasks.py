"""The career-path DAGs' Python steps (the DAG files only wire them)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import get_current_context, task

from credsync.dagkit import WAREHOUSE_CONN_ID, fail_without_retry, tenant_task


@task(retries=1)
def load_rules() -> dict[str, Any]:
    """Validate the rules file before any tenant is evaluated (a bad edit fails here, once, named)."""
    from credsync.careers.rules import CareerPathRulesError, load_career_path_rules

    with fail_without_retry(CareerPathRulesError):
        rules = load_career_path_rules()
    return {"path": str(rules.path), "version": rules.version,
            "rules": [f"{r.rule_id} v{r.rule_version}" for r in rules.rules]}


@tenant_task
def evaluate(tenant: Any) -> list[dict[str, Any]]:
    """Open, withdraw and review the tenant's cases (as of the ``as_of`` param, default today); the
    pending ones to ask about (XCom: case ids and run ids only)."""
    from datetime import date

    from credsync.careers.evaluate import evaluate_tenant
    from credsync.careers.rules import load_career_path_rules
    from credsync.warehouse import url_from_connection

    context = get_current_context()
    run_id, as_of = context.get("run_id"), (context.get("params") or {}).get("as_of")
    result = evaluate_tenant(url_from_connection(WAREHOUSE_CONN_ID), tenant.tenant_id, load_career_path_rules(),
                             as_of=date.fromisoformat(as_of) if as_of else None, run_id=run_id)
    return result.asks


@task
def approval_request(params: dict | None = None) -> dict[str, Any]:
    """The case as the approval's subject and body; skips (nothing to ask) unless it is pending."""
    from airflow.sdk.exceptions import AirflowSkipException

    from credsync.careers.decide import CaseNotPending
    from credsync.careers.decide import approval_request as build
    from credsync.careers.rules import load_career_path_rules
    from credsync.warehouse import connect, url_from_connection

    params = params or {}
    if not params.get("tenant_id") or not params.get("case_id"):
        raise ValueError("trigger with tenant_id and case_id (career_path_eligibility does this for each new case)")
    url = url_from_connection(WAREHOUSE_CONN_ID)
    with connect(url) as conn:
        row = conn.execute("SELECT rule_id FROM core.career_eligibility_cases WHERE tenant_id = %s AND case_id = %s",
                           (params["tenant_id"], params["case_id"])).fetchone()
    rule = load_career_path_rules().rule(row[0]) if row else None
    try:
        return build(url, params["tenant_id"], params["case_id"], params.get("ask"),
                     rule.respondents if rule else ())
    except CaseNotPending as exc:
        raise AirflowSkipException(str(exc)) from None


@task(trigger_rule="all_done", retries=2)
def decide(params: dict | None = None, ti=None, run_id: str | None = None) -> dict[str, Any]:
    """Approve (record + HRIS write), reject (record with reason) or expire the case as answered."""
    from credsync.careers.decide import decide as carry_out
    from credsync.hooks.hris import HrisHook
    from credsync.tenants import get_tenant
    from credsync.warehouse import url_from_connection

    params = params or {}
    answer = ti.xcom_pull(task_ids="approve") if ti is not None else None  # None: no answer (timed out, skipped)
    tenant = get_tenant(params["tenant_id"])
    hris = HrisHook(tenant.conn_id("hris"), tenant.tenant_id).client()
    return carry_out(url_from_connection(WAREHOUSE_CONN_ID), hris, tenant_id=tenant.tenant_id,
                     case_id=params["case_id"], ask=params.get("ask"), hitl_result=answer, run_id=run_id)
