"""SCIM client over the one layer: cut answers are retried for reads, never for a create (real sockets)."""

from __future__ import annotations

import pytest

from credsync.hooks.policy import RetryPolicy
from credsync.hooks.scim import ScimClient, ScimHook
from credsync.hooks.transport import ServiceError
from tests.unit.hooks.loopback import serve, set_connection
from tests.unit.rawhttp import raw_server

FAST = RetryPolicy(initial_seconds=0.01, max_seconds=0.02, max_attempts=6)


def fast(url: str) -> ScimClient:
    return ScimClient.for_url(url, "tok", policy=FAST)


def test_an_unretried_create_cut_mid_answer_is_an_error_without_status_for_the_look_up_path() -> None:
    # provision._create_or_adopt looks up by externalId after an error with no status;
    # a raw ChunkedEncodingError used to escape it and stop the tenant.
    with raw_server(["short", "ok"]) as server:
        with pytest.raises(ServiceError) as err:
            fast(server.url).create_user({"userName": "e1", "externalId": "E1"})
        assert err.value.status is None
        assert server.requests == [("POST", "/Users")], "a create is never sent twice blindly"


def test_scim_reads_survive_a_reset_mid_list_response() -> None:
    page = {"Resources": [{"id": "u1", "externalId": "E1", "userName": "e1"}], "totalResults": 1}
    with raw_server(["rst", "chunked_cut", "ok"], body=page) as server:
        assert fast(server.url).find_user("externalId", "E1")["id"] == "u1"
    assert server.count == 3


def test_a_create_conflict_is_an_error_with_its_status() -> None:
    with serve([(409, {}, {"detail": "uniqueness"})]) as server, pytest.raises(ServiceError) as err:
        fast(server.url).create_user({"userName": "e1"})
    assert err.value.status == 409 and len(server.seen) == 1


def test_the_hook_lists_under_the_base_path_extra_with_bearer_and_scim_accept(monkeypatch) -> None:
    page = {"Resources": [{"id": "u1"}], "totalResults": 1}
    with serve([(200, {}, page)]) as server:
        set_connection(monkeypatch, "scim_acme", host=server.url + "/", password="tok",
                       extra={"base_path": "/lms/{tenant}/scim/v2/"})
        users = list(ScimHook("scim_acme", "acme").client().iter_users())
    assert users == [{"id": "u1"}]
    seen = server.seen[0]
    assert seen.path == "/lms/acme/scim/v2/Users"
    assert seen.headers["Authorization"] == "Bearer tok"
    assert seen.headers["Accept"].startswith("application/scim+json")
