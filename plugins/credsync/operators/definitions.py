"""CredentialDefinitionsOperator: publish credsync's credential types to the definitions registry."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator

DEFINITIONS_CONN_ID = "credential_definitions"


class CredentialDefinitionsOperator(BaseOperator):
    """Mint CTIDs once, gate and publish changed definitions, retire the ones that left the rules.

    Connection ``definitions_conn_id`` (default ``credential_definitions``): see
    :mod:`credsync.hooks.definitions`. Safe to clear and rerun: unchanged definitions are not
    resent and a resent one is the same update under the same CTID. Returns the counts (XCom).
    """

    template_fields = ("definitions_conn_id",)

    def __init__(self, *, definitions_conn_id: str = DEFINITIONS_CONN_ID,
                 warehouse_conn_id: str = "credsync_warehouse", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.definitions_conn_id = definitions_conn_id
        self.warehouse_conn_id = warehouse_conn_id

    def execute(self, context: Any) -> dict[str, Any]:
        from airflow.exceptions import AirflowNotFoundException
        from airflow.sdk.exceptions import AirflowSkipException

        from credsync.credentials.rules import load_rules
        from credsync.definitions.publish import publish_definitions
        from credsync.hooks.definitions import CredentialDefinitionsHook
        from credsync.warehouse import url_from_connection

        hook = CredentialDefinitionsHook(self.definitions_conn_id)
        try:
            hook.connection  # noqa: B018 - look the Connection up before any work
        except AirflowNotFoundException:
            # Publishing definitions is optional: an organisation without a definitions registry skips it.
            raise AirflowSkipException(f"no Connection {self.definitions_conn_id!r}: no definitions registry "
                                       "configured, nothing published (docs/credential_definitions.md)") from None
        client = hook.client()
        result = publish_definitions(url_from_connection(self.warehouse_conn_id), client, load_rules())
        self.log.info("credential definitions: %s", result.as_counts())
        return result.as_counts()
