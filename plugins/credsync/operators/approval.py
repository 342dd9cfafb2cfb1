"""ChangeSetApprovalOperator: Airflow's HITL Approve/Reject for a staged change set, with a final timeout.

A plain ``HITLOperator`` whose answer times out raises ``HITLTimeoutError``, which Airflow retries:
each retry would ask again for another ``response_timeout``. For a braked change set the timeout is
an outcome, not a fault: the set expires (nothing applied) and the next provisioning run asks
afresh, so a timeout fails this task without retry; other errors retry as usual.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.standard.operators.hitl import HITLOperator


class ChangeSetApprovalOperator(HITLOperator):
    """Approve/Reject (``options``) with the staged list as ``body``; see the module docstring."""

    #: What the timeout means, after "no decision within <timeout>: " (subclasses say it for their case).
    timeout_outcome = ("the change set expires, nothing is applied; "
                       "the next provisioning run stages it again and asks again")

    def process_trigger_event_error(self, event: dict[str, Any]) -> None:
        if event.get("error_type") == "timeout":
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"no decision within {self.response_timeout}: {self.timeout_outcome}")
        super().process_trigger_event_error(event)
