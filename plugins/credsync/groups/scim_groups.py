"""SCIM 2.0 Groups (RFC 7643 §4.2, RFC 7644 §3.5.2) on the tenant's SCIM root, Okta Group Push style.

A group is created empty (``members: []``), then changed only by PATCH ``add`` / ``remove`` of
members by ``value`` (the user's SCIM id): a membership list is never replaced as a whole, so a
member someone else added in the LMS is not dropped by a stale full list. The HTTP is the SCIM
hook's client (:class:`credsync.hooks.scim.ScimClient`: same Connection, root and retry policy).
Plain Python (no Airflow).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from credsync.hooks.scim import LIST_SCHEMA, SCIM_JSON, ScimClient
from credsync.hooks.transport import ServiceError

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
PAGE_SIZE = 100
#: Members per PATCH request: a large transfer wave stays a few requests, none of them huge.
MEMBERS_PER_PATCH = 200

__all__ = ["GROUP_SCHEMA", "LIST_SCHEMA", "PATCH_SCHEMA", "ScimGroups", "ServiceError"]


class ScimGroups:
    """Groups endpoint operations of one tenant's SCIM root."""

    def __init__(self, scim: ScimClient) -> None:
        self.api = scim.api

    def find(self, external_id: str) -> dict[str, Any] | None:
        """The group whose ``externalId`` is ``external_id`` (a read: never creates)."""
        quoted = external_id.replace("\\", "\\\\").replace('"', '\\"')
        body = self.api.request("GET", "Groups", params={"filter": f'externalId eq "{quoted}"'}).json()
        resources = body.get("Resources") or []
        return resources[0] if resources else None

    def get(self, scim_id: str) -> dict[str, Any] | None:
        """The group with its members; None when the LMS has no such group (deleted there)."""
        answer = self.api.request("GET", f"Groups/{scim_id}", expect=(200, 404))
        return answer.json() if answer.status == 200 else None

    def create_empty(self, external_id: str, display_name: str) -> dict[str, Any]:
        # Not retried blindly: a lost 201 would make a second group; the caller looks up by externalId.
        body = {"schemas": [GROUP_SCHEMA], "externalId": external_id, "displayName": display_name, "members": []}
        return self.api.request("POST", "Groups", json=body, headers={"Content-Type": SCIM_JSON},
                                expect=(201,), retry=False).json()

    def add_members(self, scim_id: str, member_ids: list[str]) -> int:
        """PATCH ``add`` of ``member_ids`` (a re-sent add is harmless: members are a set). Returns requests sent."""
        sent = 0
        for chunk in _chunks(member_ids):
            operations = [{"op": "add", "path": "members", "value": [{"value": m} for m in chunk]}]
            self._patch(scim_id, operations)
            sent += 1
        return sent

    def remove_members(self, scim_id: str, member_ids: list[str]) -> int:
        """PATCH ``remove`` of each member by value (``members[value eq "<id>"]``). Returns requests sent."""
        sent = 0
        for chunk in _chunks(member_ids):
            operations = [{"op": "remove", "path": f'members[value eq "{m}"]'} for m in chunk]
            self._patch(scim_id, operations)
            sent += 1
        return sent

    def _patch(self, scim_id: str, operations: list[dict[str, Any]]) -> None:
        # Retried on 429/5xx: adding a member twice or removing one already gone leaves the same set.
        self.api.request("PATCH", f"Groups/{scim_id}", json={"schemas": [PATCH_SCHEMA], "Operations": operations},
                         headers={"Content-Type": SCIM_JSON}, expect=(200, 204))

    def iter_groups(self) -> Iterator[dict[str, Any]]:
        """Every group with its members, paged with startIndex/count (the listing reconciliation reads)."""
        start = 1
        while True:
            body = self.api.request("GET", "Groups", params={"startIndex": start, "count": PAGE_SIZE}).json()
            resources = body.get("Resources") or []
            yield from resources
            start += len(resources)
            if not resources or start > int(body.get("totalResults", 0)):
                return


def member_ids(group: dict[str, Any]) -> set[str]:
    """The SCIM ids of a group's members (users and nested groups alike)."""
    return {str(m["value"]) for m in group.get("members") or [] if isinstance(m, dict) and m.get("value")}


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), MEMBERS_PER_PATCH):
        yield values[start:start + MEMBERS_PER_PATCH]
