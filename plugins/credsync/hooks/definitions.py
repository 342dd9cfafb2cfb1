"""Credential definitions registry hook (Credential Engine-style Assistant API).

Connection ``credential_definitions`` (conn_type ``http``; URL fields read by
:mod:`credsync.hooks.base`): ``password`` is the publisher's API key, sent as
``Authorization: ApiToken <key>``; extras ``organization_ctid`` (the publishing organisation's
CTID, given when it registered) and ``subject_webpage`` (the public page a definition links to;
``{credential_type}`` is replaced).
"""

from __future__ import annotations

from typing import Any

from requests.auth import AuthBase

from credsync.hooks.base import ConnectionConfigError, CredsyncHttpHook
from credsync.hooks.transport import HttpClient, TokenAuth

PUBLISH_PATH = "assistant/credential/publish"


class ApiTokenAuth(TokenAuth):
    scheme = "ApiToken"


class DefinitionsRejected(RuntimeError):
    """The registry answered ``Successful: false`` (with HTTP 200, as its Assistant API does)."""

    def __init__(self, ctid: str, messages: list[str]) -> None:
        super().__init__(f"definitions registry refused {ctid}: {'; '.join(messages) or 'no message'}")
        self.ctid, self.messages = ctid, messages


class DefinitionsClient:
    def __init__(self, http: HttpClient, organization_ctid: str, subject_webpage: str) -> None:
        self.http, self.organization_ctid, self.subject_webpage = http, organization_ctid, subject_webpage

    @classmethod
    def for_url(cls, base_url: str, api_key: str, organization_ctid: str, subject_webpage: str,
                **kwargs: Any) -> DefinitionsClient:
        """A client without an Airflow Connection (tests); ``kwargs`` as for :meth:`HttpClient.for_url`."""
        http = HttpClient.for_url(base_url, auth=ApiTokenAuth(api_key), service="definitions", **kwargs)
        return cls(http, organization_ctid, subject_webpage)

    def publish(self, credential: dict[str, Any]) -> dict[str, Any]:
        """Publish (create or update) one definition; a retried publish of the same CTID is the same update."""
        body = {"PublishForOrganizationIdentifier": self.organization_ctid, "DefaultLanguage": "en-US",
                "Credential": credential}
        answer = self.http.request("POST", PUBLISH_PATH, json=body).json()
        if not isinstance(answer, dict) or answer.get("Successful") is not True:
            messages = answer.get("Messages", []) if isinstance(answer, dict) else [str(answer)[:300]]
            raise DefinitionsRejected(credential["CTID"], [str(m) for m in messages])
        return answer


class CredentialDefinitionsHook(CredsyncHttpHook):
    hook_name = "credsync credential definitions registry"
    default_auth = "apitoken"
    default_headers = {"Accept": "application/json"}
    service = "definitions"
    own_extras = frozenset({"organization_ctid", "subject_webpage"})

    def auth(self) -> AuthBase | None:
        if str(self.extras.get("auth") or self.default_auth).lower() == "apitoken":
            self._require(password=self.connection.password, field="password (the API key)")
            return ApiTokenAuth(self.connection.password)
        return super().auth()

    def client(self) -> DefinitionsClient:
        org = str(self.extras.get("organization_ctid") or "")
        page = str(self.extras.get("subject_webpage") or "")
        if not org or not page:
            raise ConnectionConfigError(f"connection {self.http_conn_id!r}: extras organization_ctid and "
                                        "subject_webpage are required")
        return DefinitionsClient(self.http_client(), org, page)
