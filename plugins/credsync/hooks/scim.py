"""SCIM 2.0 hook (RFC 7643/7644) for one tenant's LMS user provisioning.

Connection (conn_type ``http``; fields read by :mod:`credsync.hooks.base`): the base URL
(``host`` as a full URL or host + ``schema`` + ``port``); ``password`` is the Bearer token
(``login`` unused); extra ``{"base_path": "/scim/{tenant}/v2"}`` gives the SCIM root, else the
host's own path, else the default ``/{tenant}/v2``. Provisioning and reconciliation both list
through this hook, so they read the same root.

:class:`ScimClient` is the plain part (tests build it from a sandbox URL with
:meth:`ScimClient.for_url`); :class:`ScimHook` only turns the Airflow Connection into one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from credsync.hooks.base import CredsyncHttpHook
from credsync.hooks.transport import BearerAuth, HttpClient, ServiceError

SCIM_JSON = "application/scim+json"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
BULK_REQUEST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
PAGE_SIZE = 200
ACCEPT = f"{SCIM_JSON}, application/json"


@dataclass(frozen=True)
class ScimCapabilities:
    """What the server's ServiceProviderConfig announces."""

    etag: bool
    bulk: bool
    bulk_max_operations: int
    patch: bool
    filter: bool


class ScimClient:
    """Users endpoint operations with retries; every write returns the server's resource.

    Reads and full-state PUTs are retried on 429/5xx and on transient transport failures,
    a reset in the middle of the answer included (:mod:`credsync.hooks.transport`); creates are not.
    Failures raise :class:`~credsync.hooks.transport.ServiceError` (``status`` None: answer lost).
    """

    def __init__(self, client: HttpClient) -> None:
        self.api = client
        self._capabilities: ScimCapabilities | None = None

    @classmethod
    def for_url(cls, base_url: str, token: str, **kwargs: Any) -> ScimClient:
        """A client for the SCIM root ``base_url`` (no Airflow Connection: tests, benchmarks);
        ``kwargs`` as for :meth:`HttpClient.for_url`."""
        return cls(HttpClient.for_url(base_url, auth=BearerAuth(token), headers={"Accept": ACCEPT}, service="scim",
                                      **kwargs))

    def capabilities(self) -> ScimCapabilities:
        if self._capabilities is None:
            body = self.api.request("GET", "ServiceProviderConfig").json()
            bulk = body.get("bulk") or {}
            self._capabilities = ScimCapabilities(
                etag=bool((body.get("etag") or {}).get("supported")),
                bulk=bool(bulk.get("supported")),
                bulk_max_operations=int(bulk.get("maxOperations") or 0),
                patch=bool((body.get("patch") or {}).get("supported")),
                filter=bool((body.get("filter") or {}).get("supported")),
            )
        return self._capabilities

    def iter_users(self) -> Iterator[dict[str, Any]]:
        """Every user, paged with startIndex/count (RFC 7644 §3.4.2.4)."""
        start = 1
        while True:
            body = self.api.request("GET", "Users", params={"startIndex": start, "count": PAGE_SIZE}).json()
            resources = body.get("Resources") or []
            yield from resources
            start += len(resources)
            if not resources or start > int(body.get("totalResults", 0)):
                return

    def find_user(self, attribute: str, value: str) -> dict[str, Any] | None:
        """The user whose ``attribute`` equals ``value`` (a read: never creates)."""
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        body = self.api.request("GET", "Users", params={"filter": f'{attribute} eq "{quoted}"'}).json()
        resources = body.get("Resources") or []
        return resources[0] if resources else None

    def create_user(self, resource: dict[str, Any]) -> dict[str, Any]:
        # Not retried blindly: a lost 201 would turn into a 409; the caller looks up by externalId.
        # A lost answer (reset mid-response, timeout) raises ServiceError with status None for that look-up.
        return self.api.request(
            "POST", "Users", json=resource, headers={"Content-Type": SCIM_JSON}, expect=(201,), retry=False
        ).json()

    def replace_user(self, scim_id: str, resource: dict[str, Any], *, version: str | None) -> dict[str, Any]:
        """PUT the full resource; with ``version`` as If-Match when the server supports ETags."""
        headers = {"Content-Type": SCIM_JSON}
        if version and self.capabilities().etag:
            headers["If-Match"] = version
        return self.api.request("PUT", f"Users/{scim_id}", json=resource, headers=headers).json()

    def bulk(self, operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """POST /Bulk; returns the per-operation results in order.

        Sent once: a Bulk request may carry creates, and after a lost answer only the
        caller can look up which of them the server applied (as for :meth:`create_user`).
        """
        body = {"schemas": [BULK_REQUEST_SCHEMA], "failOnErrors": 0, "Operations": operations}
        response = self.api.request("POST", "Bulk", json=body, headers={"Content-Type": SCIM_JSON}, retry=False)
        return list(response.json().get("Operations") or [])


class ScimHook(CredsyncHttpHook):
    """Builds a :class:`ScimClient` for one tenant from an Airflow Connection (fields: module docstring)."""

    hook_name = "credsync SCIM"
    default_auth = "bearer"
    default_base_path = "/{tenant}/v2"
    default_headers = {"Accept": ACCEPT}
    service = "scim"

    def __init__(self, http_conn_id: str, tenant_id: str, **kwargs: Any) -> None:
        super().__init__(http_conn_id, tenant_id, **kwargs)

    def client(self) -> ScimClient:
        return ScimClient(self.http_client())


__all__ = ["ScimCapabilities", "ScimClient", "ScimHook", "ServiceError"]
