"""Talent marketplace operators: initial bulk sync, signed events, career-path eligibility, reconciliation
with its 7-day gate.

Each takes the tenant and its marketplace Connection id (default: the tenant's ``marketplace.conn`` in
include/tenants.yaml) as templated parameters; a tenant without a marketplace profile, or a deployment
without the Connection, is skipped. Each asks for a token carrying only its flow's scopes
(credsync.hooks.marketplace.FLOW_SCOPES) and revokes its tokens when done, audited.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from airflow.sdk import BaseOperator


class _MarketplaceOperator(BaseOperator):
    template_fields: Sequence[str] = ("tenant_id", "marketplace_conn_id")

    def __init__(self, *, tenant_id: str, marketplace_conn_id: str | None = None,
                 warehouse_conn_id: str = "credsync_warehouse", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tenant_id = tenant_id
        self.marketplace_conn_id = marketplace_conn_id
        self.warehouse_conn_id = warehouse_conn_id

    def _setup(self) -> tuple[Any, Any, str]:
        """(profile, hook, warehouse URL); skips a tenant without a profile or a Connection."""
        from airflow.exceptions import AirflowNotFoundException
        from airflow.sdk.exceptions import AirflowSkipException

        from credsync.hooks.marketplace import MarketplaceHook
        from credsync.marketplace.profile import profile_of
        from credsync.warehouse import url_from_connection

        profile = profile_of(self.tenant_id)
        if profile is None:
            raise AirflowSkipException(f"tenant {self.tenant_id} has no marketplace profile (include/tenants.yaml)")
        hook = MarketplaceHook(self.marketplace_conn_id or profile.conn_id, self.tenant_id)
        try:
            hook.connection  # noqa: B018 - look the Connection up before any work
        except AirflowNotFoundException:
            raise AirflowSkipException(f"no Connection {hook.http_conn_id!r}: no marketplace configured for "
                                       f"{self.tenant_id}, nothing sent") from None
        return profile, hook, url_from_connection(self.warehouse_conn_id)

    def _revoke(self, warehouse_url: str, flow: str, *clients: Any) -> None:
        """Tokens are short-lived anyway; revoking at the end leaves none valid between runs."""
        from credsync.marketplace.ledger import audit_tokens
        from credsync.warehouse import connect

        for client in clients:
            try:
                client.revoke_tokens()
            except Exception as exc:  # a failed revocation must not hide the task's own outcome
                self.log.warning("marketplace %s: revoking the %s tokens failed: %s", self.tenant_id, flow, exc)
        with connect(warehouse_url) as conn:
            audit_tokens(conn, self.tenant_id, flow, *clients)
            conn.commit()


class MarketplaceBulkSyncOperator(_MarketplaceOperator):
    """The initial bulk sync of ``tenant_id`` (credsync.marketplace.bulk); a no-op once it completed.

    ``export_store``: where the NDJSON export goes (default ``CREDSYNC_MARKETPLACE_STORE`` or
    ``$CREDSYNC_OBJECT_STORE/marketplace``). A gate refusal fails without retry (a retry sees the same file).
    """

    template_fields: Sequence[str] = (*_MarketplaceOperator.template_fields, "export_store")

    def __init__(self, *, export_store: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.export_store = export_store

    def execute(self, context: Any) -> dict[str, Any]:
        from credsync.dagkit import fail_without_retry
        from credsync.marketplace.bulk import ExportGateFailed, initial_sync

        profile, hook, warehouse_url = self._setup()
        client = hook.client("bulk")
        try:
            with fail_without_retry(ExportGateFailed):
                result = initial_sync(warehouse_url, self.tenant_id, profile, client, store=self.export_store)
        finally:
            self._revoke(warehouse_url, "bulk", client)
        self.log.info("marketplace initial sync %s: %s", self.tenant_id, result.as_counts())
        return result.as_counts()


class MarketplaceEventsOperator(_MarketplaceOperator):
    """Member changes and signed completion / badge events of ``tenant_id`` (credsync.marketplace.events).

    Safe to clear: each event is sent under its own id until acknowledged; refusals are dead-lettered.
    """

    def execute(self, context: Any) -> dict[str, Any]:
        from credsync.marketplace.events import push_events

        profile, hook, warehouse_url = self._setup()
        events, members = hook.client("events"), hook.client("members")
        try:
            result = push_events(warehouse_url, self.tenant_id, profile, events, members)
        finally:
            self._revoke(warehouse_url, "events", events, members)
        self.log.info("marketplace events %s: %s", self.tenant_id, result.as_counts())
        return result.as_counts()


class MarketplaceEligibilityOperator(_MarketplaceOperator):
    """Granted career-path eligibility of ``tenant_id`` to the marketplace (credsync.marketplace.eligibility).

    Safe to clear: each grant is sent under its own key until acknowledged; refusals are dead-lettered.
    Its token carries the ``members`` flow's scope (write:members) only.
    """

    def execute(self, context: Any) -> dict[str, Any]:
        from credsync.marketplace.eligibility import push_eligibility

        profile, hook, warehouse_url = self._setup()
        members = hook.client("members")
        try:
            result = push_eligibility(warehouse_url, self.tenant_id, profile, members)
        finally:
            self._revoke(warehouse_url, "eligibility", members)
        self.log.info("marketplace eligibility %s: %s", self.tenant_id, result.as_counts())
        return result.as_counts()


class MarketplaceReconcileOperator(_MarketplaceOperator):
    """The reconciliations due for ``tenant_id`` (initial, +24 h, daily), then the 7-day gate.

    ``gate``: fail (without retry) when the window breaches drift < 1 % or delivery > 99 %; the
    metrics are recorded either way. ``now``: the reconciliation time (ISO 8601; tests simulate days).
    """

    template_fields: Sequence[str] = (*_MarketplaceOperator.template_fields, "now")

    def __init__(self, *, gate: bool = True, now: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate
        self.now = now

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from credsync.marketplace.reconcile import due, reconcile, window_gate
        from credsync.warehouse import connect

        _, hook, warehouse_url = self._setup()
        now = datetime.fromisoformat(self.now) if self.now else datetime.now(UTC)
        with connect(warehouse_url) as conn:
            kinds = due(conn, self.tenant_id, now)
        runs = []
        if kinds:
            reader, members = hook.client("reconcile"), hook.client("members")
            try:
                runs = [reconcile(warehouse_url, self.tenant_id, kind, reader, members, now=now).as_counts()
                        for kind in kinds]
            finally:
                self._revoke(warehouse_url, "reconcile", reader, members)
        with connect(warehouse_url) as conn:
            verdict = window_gate(conn, self.tenant_id, now.date())
        self.log.info("marketplace reconciliation %s: runs %s; window %s", self.tenant_id, runs, verdict.as_counts())
        if self.gate and not verdict.passed:
            raise AirflowFailException(f"tenant {self.tenant_id}: marketplace acceptance breached over the "
                                       f"{verdict.days} day(s) to {verdict.day}: {'; '.join(verdict.breaches)} "
                                       "(docs/runbook.md, Talent marketplace sync)")
        return {"runs": runs, "window": verdict.as_counts()}
