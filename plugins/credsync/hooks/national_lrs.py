"""National LRS (NELC) hook: xAPI statements to the national Learning Record Store.

Connection (conn_type ``http``; URL fields read by :mod:`credsync.hooks.base`): the LRS's xAPI
base (``https://lrs.nelc.gov.sa/lrs-license/xapi``; the client posts to ``statements`` below it),
``login`` / ``password`` the key and secret NELC issued (HTTP Basic), extra ``region`` where the
LRS keeps data (``sa-riyadh``; a tenant's residency policy must allow it).

Posting statements that carry their own ids is safe to repeat: the LRS stores an id once and
answers a resend of the same statement like the first time, so lost answers are simply resent
under the one retry policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from credsync.hooks.base import CredsyncHttpHook
from credsync.hooks.transport import AccessDenied, Attempt, HttpClient, ServiceUnavailable, short

XAPI_VERSION = "1.0.3"


@dataclass(frozen=True)
class PostOutcome:
    """One POST of a batch: 200 ``ids``; 400 a refusal naming ``rule`` (and the statement); 409 a conflict."""

    status: int
    ids: list[str]
    rule: str | None
    statement_id: str | None
    error: dict[str, Any] | None
    attempts: list[Attempt]

    @property
    def accepted(self) -> bool:
        return self.status == 200


class NationalLrsClient:
    def __init__(self, http: HttpClient) -> None:
        self.http = http

    @classmethod
    def for_url(cls, base_url: str, login: str, password: str, **kwargs: Any) -> NationalLrsClient:
        """A client without an Airflow Connection (tests); ``kwargs`` as for :meth:`HttpClient.for_url`."""
        from requests.auth import HTTPBasicAuth

        return cls(HttpClient.for_url(base_url, auth=HTTPBasicAuth(login, password), service="national_lrs",
                                      **kwargs))

    def post(self, statements: list[dict[str, Any]]) -> PostOutcome:
        """POST ``statements``; raises ServiceUnavailable past the retry budget, AccessDenied on 401/403."""
        answer = self.http.call("POST", "statements", json=statements,
                                headers={"X-Experience-API-Version": XAPI_VERSION})
        body = answer.body
        if answer.status in (401, 403):
            raise AccessDenied(f"national_lrs POST statements: HTTP {answer.status}: {short(body)}",
                               answer.attempts, answer.status, body)
        if answer.status == 200 and isinstance(body, list):
            return PostOutcome(200, [str(i) for i in body], None, None, None, answer.attempts)
        if answer.status in (400, 409) and isinstance(body, dict):
            return PostOutcome(answer.status, [], body.get("rule"), body.get("statement_id"), body,
                               answer.attempts)
        raise ServiceUnavailable(f"national_lrs POST statements: unexpected HTTP {answer.status}: {short(body)}",
                                 answer.attempts, answer.status, body)


class NationalLrsHook(CredsyncHttpHook):
    hook_name = "credsync national LRS (NELC)"
    default_auth = "basic"
    default_headers = {"Accept": "application/json"}
    service = "national_lrs"

    def client(self) -> NationalLrsClient:
        return NationalLrsClient(self.http_client())
