"""HRIS/SCIM client: a connection reset in the middle of the answer is retried like a 503 (real socket)."""

from __future__ import annotations

import pytest

from credsync.hooks.scim import ScimClient
from credsync.people.http import ApiClient, ApiError, HttpTarget
from tests.unit.rawhttp import raw_server


def fast(url: str, attempts: int = 6) -> ApiClient:
    return ApiClient(HttpTarget(url, max_attempts=attempts, backoff_base=0.01, backoff_max=0.02))


@pytest.mark.parametrize("stream", [False, True])
def test_every_kind_of_mid_body_cut_is_retried_and_the_body_arrives_whole(stream: bool) -> None:
    with raw_server(["short", "rst", "chunked_cut", "gzip_cut", "ok"]) as server:
        response = fast(server.url).request("GET", "/api/v1/tenants/acme/workers", stream=stream)
        assert response.json()["data"] == list(range(200))
    assert server.count == 5


def test_resets_that_outlast_the_budget_raise_api_error_without_status() -> None:
    expected = r"GET http://127\.0\.0\.1:\d+/x: ChunkedEncodingError after 3"
    with raw_server(["rst"]) as server, pytest.raises(ApiError, match=expected) as err:
        fast(server.url, attempts=3).request("GET", "/x")
    assert err.value.status is None and server.count == 3


def test_an_unretried_create_cut_mid_answer_is_an_api_error_for_the_look_up_path() -> None:
    # provision._create_or_adopt looks up by externalId after an ApiError with no status;
    # a raw ChunkedEncodingError used to escape it and stop the tenant.
    with raw_server(["short", "ok"]) as server:
        scim = ScimClient(fast(server.url))
        with pytest.raises(ApiError) as err:
            scim.create_user({"userName": "e1", "externalId": "E1"})
        assert err.value.status is None
        assert server.requests == [("POST", "/Users")], "a create is never sent twice blindly"


def test_scim_reads_survive_a_reset_mid_list_response() -> None:
    page = {"Resources": [{"id": "u1", "externalId": "E1", "userName": "e1"}], "totalResults": 1}
    with raw_server(["rst", "chunked_cut", "ok"], body=page) as server:
        assert ScimClient(fast(server.url)).find_user("externalId", "E1")["id"] == "u1"
    assert server.count == 3
