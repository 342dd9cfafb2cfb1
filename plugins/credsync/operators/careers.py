"""Career-path eligibility operators: ask for one case's approval, decide it (HITL), write it to the HRIS.

- :class:`AskCareerApprovalOperator` triggers ``career_path_approval`` for each pending case of a
  tenant the way ``TriggerDagRunOperator`` does (as :class:`credsync.operators.groups.GroupPushOperator`
  does for a braked group change): the run id is the case's ``approval_run_id`` (case and ask), and a
  run that exists already is not started again, so clearing the task or rerunning starts nothing new.
- :class:`CareerPathApprovalOperator` is Airflow's HITL Approve/Reject with the timeout as an outcome.
- :class:`CareerEligibilityWritebackOperator` resends approved eligibility the HRIS has not taken yet,
  on the tenant's HRIS Connection (``hris_conn_id``; :class:`credsync.hooks.hris.HrisHook`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator

from credsync.operators.approval import ChangeSetApprovalOperator


class AskCareerApprovalOperator(BaseOperator):
    """Trigger ``career_path_approval`` once for each of ``tenant_id``'s pending ``asks``; returns counts.

    ``asks`` (templated; the evaluation's list) hold ``case_id``, ``ask`` and ``trigger_run_id``. One
    task per tenant, so a tenant's grid label holds and a mass issue does not map a task per case;
    each trigger is the request ``TriggerDagRunOperator`` makes (the runner's ``TriggerDagRun``
    message, as ``GroupPushOperator``'s ``DagRunTriggerException`` becomes), and a run that exists
    already counts as asked: its id is the case's and the ask's, so clearing this task or rerunning
    the evaluation starts nothing new. A case withdrawn or decided since the evaluation is not asked.
    """

    template_fields: Sequence[str] = ("tenant_id", "asks")

    def __init__(self, *, tenant_id: str, asks: Any, warehouse_conn_id: str = "credsync_warehouse",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tenant_id, self.asks, self.warehouse_conn_id = tenant_id, asks, warehouse_conn_id

    def execute(self, context: Any) -> dict[str, int]:
        from credsync.careers.decide import APPROVAL_DAG_ID, CaseNotPending, pending_case
        from credsync.warehouse import url_from_connection

        url = url_from_connection(self.warehouse_conn_id)
        counts = {"triggered": 0, "already_asked": 0, "no_longer_pending": 0}
        for ask in self.asks or []:
            try:
                pending_case(url, self.tenant_id, ask["case_id"], int(ask["ask"]))
            except CaseNotPending as exc:  # withdrawn or decided since the evaluation listed it
                self.log.info("%s", exc)
                counts["no_longer_pending"] += 1
                continue
            conf = {"tenant_id": self.tenant_id, "case_id": ask["case_id"], "ask": int(ask["ask"])}
            created = self._trigger(APPROVAL_DAG_ID, ask["trigger_run_id"], conf)
            counts["triggered" if created else "already_asked"] += 1
        self.log.info("tenant %s: approval runs %s", self.tenant_id, counts)
        return counts

    @staticmethod
    def _trigger(dag_id: str, run_id: str, conf: dict[str, Any]) -> bool:
        """Ask the API server for the run, as the task runner does for ``DagRunTriggerException``;
        False: a run with this id exists (asked before)."""
        from airflow.sdk.exceptions import ErrorType
        from airflow.sdk.execution_time import task_runner
        from airflow.sdk.execution_time.comms import ErrorResponse, TriggerDagRun

        answer = task_runner.SUPERVISOR_COMMS.send(TriggerDagRun(
            dag_id=dag_id, run_id=run_id, logical_date=None, run_after=None, conf=conf, reset_dag_run=False))
        if isinstance(answer, ErrorResponse):
            if answer.error == ErrorType.DAGRUN_ALREADY_EXISTS:
                return False
            raise RuntimeError(f"triggering {dag_id} run {run_id} failed: {answer.error}: {answer.detail}")
        return True


class CareerPathApprovalOperator(ChangeSetApprovalOperator):
    """Approve/Reject one eligibility case; no answer within ``response_timeout`` is an outcome.

    A plain ``HITLOperator`` timeout raises ``HITLTimeoutError``, which Airflow retries, asking again
    for another ``response_timeout`` each time. Here the case expires instead (``decide`` records
    it) and the next evaluation asks afresh, so a timeout fails without retry, as
    :class:`credsync.operators.approval.ChangeSetApprovalOperator` does for change sets.

    ``respondents`` (templated, the rule's Airflow user ids) become the HITL assigned users: only
    they may answer. Empty: anyone with access to the DAG (the approver is named in the body).
    """

    template_fields: Sequence[str] = (*ChangeSetApprovalOperator.template_fields, "respondents")
    timeout_outcome = ("the eligibility case expires, nothing is written; "
                       "the next career_path_eligibility run asks again")

    def __init__(self, *, respondents: Any = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.respondents = respondents

    def execute(self, context: Any) -> Any:
        if self.respondents:
            self.assigned_users = [{"id": str(r), "name": str(r)} for r in self.respondents]
        return super().execute(context)


class CareerEligibilityWritebackOperator(BaseOperator):
    """Write ``tenant_id``'s approved, unwritten eligibility to its HRIS profile; returns how many."""

    template_fields: Sequence[str] = ("tenant_id", "hris_conn_id")

    def __init__(self, *, tenant_id: str, hris_conn_id: str | None = None,
                 warehouse_conn_id: str = "credsync_warehouse", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tenant_id, self.hris_conn_id, self.warehouse_conn_id = tenant_id, hris_conn_id, warehouse_conn_id

    def execute(self, context: Any) -> int:
        from credsync.careers.decide import write_pending
        from credsync.hooks.hris import HrisHook
        from credsync.tenants import get_tenant
        from credsync.warehouse import url_from_connection

        conn_id = self.hris_conn_id or get_tenant(self.tenant_id).conn_id("hris")
        return write_pending(url_from_connection(self.warehouse_conn_id), HrisHook(conn_id, self.tenant_id).client(),
                             self.tenant_id)
