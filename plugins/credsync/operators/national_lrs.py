"""NationalLrsOperator: forward one tenant's learning records to the national LRS (NELC)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator


class NationalLrsOperator(BaseOperator):
    """Build, check (NELC checklist), record, gate and send ``tenant_id``'s statements; returns the counts.

    ``national_lrs_conn_id``: the national LRS Connection (default: the tenant's ``national.lrs``);
    its extra ``region`` must be one the tenant's residency policy allows. A tenant without a
    national profile, or a deployment without the Connection, is skipped. Safe to clear and rerun:
    the ledger sends each statement id once and a resend of an unanswered one is stored once.
    """

    template_fields: Sequence[str] = ("tenant_id", "national_lrs_conn_id")

    def __init__(self, *, tenant_id: str, national_lrs_conn_id: str | None = None,
                 warehouse_conn_id: str = "credsync_warehouse", batch_size: int = 50, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tenant_id = tenant_id
        self.national_lrs_conn_id = national_lrs_conn_id
        self.warehouse_conn_id = warehouse_conn_id
        self.batch_size = batch_size

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.exceptions import AirflowNotFoundException
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from credsync.hooks.national_lrs import NationalLrsHook
        from credsync.national.forward import NationalGateFailed, forward
        from credsync.national_profile import profile_of
        from credsync.tenants import get_tenant
        from credsync.warehouse import url_from_connection

        profile = profile_of(get_tenant(self.tenant_id))
        if profile is None:
            raise AirflowSkipException(f"tenant {self.tenant_id} has no national profile (include/tenants.yaml)")
        hook = NationalLrsHook(self.national_lrs_conn_id or profile.lrs_conn_id, self.tenant_id)
        try:
            hook.connection  # noqa: B018 - look the Connection up before any work
        except AirflowNotFoundException:
            raise AirflowSkipException(f"no Connection {hook.http_conn_id!r}: no national LRS configured for "
                                       f"{self.tenant_id}, nothing sent (docs/national.md)") from None
        client = hook.client()  # residency is enforced here: a disallowed region gets no client
        try:
            result = forward(url_from_connection(self.warehouse_conn_id), self.tenant_id, profile, client,
                             batch_size=self.batch_size)
        except NationalGateFailed as exc:
            raise AirflowFailException(str(exc)) from None  # a retry would see the same batch
        self.log.info("national LRS %s: %s", self.tenant_id, result.as_counts())
        return result.as_counts()
