"""PATCH op values are case-insensitive (RFC 7644 §3.5.2; Entra sends "Add"/"Replace"/"Remove").

Against the SCIM target credsync talks to in every test (the sandbox: the real scim2-server behind
its tenant dispatcher, bearer auth and fault layer), and with credsync's own Group Push requests,
which scim2-models' own PatchOp model must accept as they are sent.
"""

from __future__ import annotations

import json
import os

import pytest
import requests
from scim2_models import Context, Group, PatchOp

from credsync.groups.scim_groups import PATCH_SCHEMA, ScimGroups, member_ids
from credsync.hooks.scim import ScimHook

pytestmark = pytest.mark.slow
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


def _api(env):
    token = json.loads(os.environ[f"AIRFLOW_CONN_SCIM_{env.tenant.upper()}"])["password"]
    root = f"{env.scim_url}/{env.tenant}/v2"

    def call(method: str, path: str, body: dict | None = None) -> requests.Response:
        return requests.request(method, f"{root}/{path}", json=body, timeout=10,
                                headers={"Authorization": f"Bearer {token}",
                                         "Content-Type": "application/scim+json"})
    return call


def _user(call, name: str) -> dict:
    created = call("POST", "Users", {"schemas": [USER_SCHEMA], "userName": name, "externalId": name})
    assert created.status_code == 201, created.text
    return created.json()


@pytest.mark.parametrize("spelling", [("Replace", "ADD", "Remove"), ("REPLACE", "Add", "remove"),
                                      ("replace", "add", "REMOVE")])
def test_the_target_accepts_patch_ops_in_any_case(people_env, spelling) -> None:
    replace, add, remove = spelling
    call = _api(people_env)
    alice, bob = _user(call, "E900001"), _user(call, "E900002")

    deactivated = call("PATCH", f"Users/{alice['id']}", {
        "schemas": [PATCH_SCHEMA], "Operations": [{"op": replace, "path": "active", "value": False}]})
    assert deactivated.status_code in (200, 204), deactivated.text
    assert call("GET", f"Users/{alice['id']}").json()["active"] is False

    group = call("POST", "Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Case", "members": []}).json()
    added = call("PATCH", f"Groups/{group['id']}", {
        "schemas": [PATCH_SCHEMA],
        "Operations": [{"op": add, "path": "members", "value": [{"value": alice["id"]}, {"value": bob["id"]}]}]})
    assert added.status_code in (200, 204), added.text
    assert member_ids(call("GET", f"Groups/{group['id']}").json()) == {alice["id"], bob["id"]}

    removed = call("PATCH", f"Groups/{group['id']}", {
        "schemas": [PATCH_SCHEMA], "Operations": [{"op": remove, "path": f'members[value eq "{alice["id"]}"]'}]})
    assert removed.status_code in (200, 204), removed.text
    assert member_ids(call("GET", f"Groups/{group['id']}").json()) == {bob["id"]}


def test_an_unknown_op_is_refused_not_ignored(people_env) -> None:
    """The case rule is not a licence for anything: an op that is no SCIM op is a 400."""
    call = _api(people_env)
    alice = _user(call, "E900003")
    refused = call("PATCH", f"Users/{alice['id']}", {
        "schemas": [PATCH_SCHEMA], "Operations": [{"op": "Merge", "path": "active", "value": False}]})
    assert refused.status_code == 400, refused.text
    assert call("GET", f"Users/{alice['id']}").json().get("active") is not False


def test_credsync_group_patches_are_valid_patch_ops_the_real_server_applies(people_env) -> None:
    call = _api(people_env)
    members = [_user(call, f"E90001{n}")["id"] for n in range(3)]
    groups = ScimGroups(ScimHook(f"scim_{people_env.tenant}", people_env.tenant).client())
    sent: list[dict] = []
    real_request = groups.api.request

    def recording(method, path, **kwargs):  # a spy: the request still goes to the server
        if method == "PATCH":
            sent.append(kwargs["json"])
        return real_request(method, path, **kwargs)

    groups.api.request = recording
    group = groups.create_empty("case-test", "Case test")
    assert groups.add_members(group["id"], members) == 1
    assert groups.remove_members(group["id"], members[:2]) == 1
    assert member_ids(groups.get(group["id"])) == {members[2]}
    assert len(sent) == 2
    for body in sent:  # scim2-models' own reading of the request (what scim2-server parses)
        parsed = PatchOp[Group].model_validate(body, scim_ctx=Context.RESOURCE_PATCH_REQUEST)
        assert [op.op.value for op in parsed.operations] == [o["op"].lower() for o in body["Operations"]]
