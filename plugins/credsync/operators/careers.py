"""Career-path eligibility operators: ask for one case's approval, decide it (HITL), write it to the HRIS.

- :class:`AskCareerApprovalOperator` triggers ``career_path_approval`` for one pending case the way
  ``TriggerDagRunOperator`` does (as :class:`credsync.operators.groups.GroupPushOperator` does for a
  braked group change): the run id is the case's ``approval_run_id`` (case and ask), and a run that
  exists already is skipped, so clearing the task or rerunning the evaluation starts nothing new.
- :class:`CareerPathApprovalOperator` is Airflow's HITL Approve/Reject with the timeout as an outcome.
- :class:`CareerEligibilityWritebackOperator` resends approved eligibility the HRIS has not taken yet,
  on the tenant's HRIS Connection (``hris_conn_id``; :class:`credsync.hooks.hris.HrisHook`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import BaseOperator

# The grid label of one ask: tenant and case, in every state (rendered from the task's own fields).
CASE_MAP_INDEX = "{{ task.tenant_id }}:{{ task.case_id }}"


class AskCareerApprovalOperator(BaseOperator):
    """Trigger ``career_path_approval`` for ``case_id`` (ask ``ask``) unless it is no longer pending."""

    template_fields: Sequence[str] = ("tenant_id", "case_id", "ask", "trigger_run_id")

    def __init__(self, *, tenant_id: str, case_id: str, ask: int | str, trigger_run_id: str,
                 warehouse_conn_id: str = "credsync_warehouse", **kwargs: Any) -> None:
        kwargs.setdefault("map_index_template", CASE_MAP_INDEX)
        super().__init__(**kwargs)
        self.tenant_id, self.case_id, self.ask, self.trigger_run_id = tenant_id, case_id, ask, trigger_run_id
        self.warehouse_conn_id = warehouse_conn_id

    def execute(self, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowSkipException, DagRunTriggerException

        from credsync.careers.decide import APPROVAL_DAG_ID, CaseNotPending, pending_case
        from credsync.warehouse import url_from_connection

        try:
            pending_case(url_from_connection(self.warehouse_conn_id), self.tenant_id, self.case_id, int(self.ask))
        except CaseNotPending as exc:  # withdrawn or decided since the evaluation listed it
            raise AirflowSkipException(str(exc)) from None
        raise DagRunTriggerException(
            trigger_dag_id=APPROVAL_DAG_ID, dag_run_id=self.trigger_run_id,
            conf={"tenant_id": self.tenant_id, "case_id": self.case_id, "ask": int(self.ask)},
            logical_date=None, run_after=None, reset_dag_run=False, skip_when_already_exists=True,
            wait_for_completion=False, allowed_states=["success"], failed_states=["failed"], poke_interval=60,
            deferrable=False)


class CareerPathApprovalOperator(HITLOperator):
    """Approve/Reject one eligibility case; no answer within ``response_timeout`` is an outcome.

    A plain ``HITLOperator`` timeout raises ``HITLTimeoutError``, which Airflow retries, asking again
    for another ``response_timeout`` each time. Here the case expires instead (``decide`` records
    it) and the next evaluation asks afresh, so a timeout fails without retry, as
    :class:`credsync.operators.approval.ChangeSetApprovalOperator` does for change sets.

    ``respondents`` (templated, the rule's Airflow user ids) become the HITL assigned users: only
    they may answer. Empty: anyone with access to the DAG (the approver is named in the body).
    """

    template_fields: Sequence[str] = (*HITLOperator.template_fields, "respondents")

    def __init__(self, *, respondents: Any = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.respondents = respondents

    def execute(self, context: Any) -> Any:
        if self.respondents:
            self.assigned_users = [{"id": str(r), "name": str(r)} for r in self.respondents]
        return super().execute(context)

    def process_trigger_event_error(self, event: dict[str, Any]) -> None:
        if event.get("error_type") == "timeout":
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(
                f"no decision within {self.response_timeout}: the eligibility case expires, nothing is "
                "written; the next career_path_eligibility run asks again")
        super().process_trigger_event_error(event)


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
