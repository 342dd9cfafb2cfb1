"""The SCIM sandbox over real HTTP: it is scim2-server, multi-tenant, authenticated and durable."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import Error, ListResponse, PatchOp, SearchRequest
from scim2_server.utils import load_default_service_provider_config
from scim2_tester import Status, check_server

from sandbox.launcher import SandboxSet, start_all

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCIM_JSON = "application/scim+json"


@pytest.fixture(scope="module")
def scim_env() -> dict[str, str]:
    return {"SANDBOX_SCIM_TOKEN": secrets.token_urlsafe(24), "SANDBOX_SCIM_TENANTS": "acme,globex"}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("scim-sandbox")


@pytest.fixture(scope="module")
def scim(data_dir: Path, scim_env: dict[str, str]) -> Iterator[SandboxSet]:
    """The SCIM sandbox alone, as uvicorn in a subprocess on a free loopback port."""
    running = start_all(data_dir, env=scim_env, names=["scim"])
    yield running
    running.stop()


def _http(running: SandboxSet, env: dict[str, str], tenant: str = "acme") -> httpx2.Client:
    return httpx2.Client(
        base_url=f"{running.url('scim')}/{tenant}/v2",
        headers={"Authorization": f"Bearer {env['SANDBOX_SCIM_TOKEN']}", "Content-Type": SCIM_JSON},
        timeout=10,
    )


@pytest.fixture
def http(scim: SandboxSet, scim_env: dict[str, str]) -> Iterator[httpx2.Client]:
    with _http(scim, scim_env) as client:
        yield client


def _user_body(**extra: Any) -> dict[str, Any]:
    unique = uuid.uuid4().hex[:10]
    return {
        "schemas": [USER, ENTERPRISE],
        "userName": f"user-{unique}@acme.example",
        "externalId": f"E-{unique}",
        "active": True,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        ENTERPRISE: {"employeeNumber": unique, "department": "Welding"},
        **extra,
    }


def _create(http: httpx2.Client, **extra: Any) -> dict[str, Any]:
    response = http.post("/Users", json=_user_body(**extra))
    assert response.status_code == 201, response.text
    return response.json()


def test_discovery_documents_are_scim2_servers_own(http: httpx2.Client) -> None:
    config = http.get("/ServiceProviderConfig").json()
    default = load_default_service_provider_config()
    assert config["bulk"] == {
        "supported": True,
        "maxOperations": default.bulk.max_operations,
        "maxPayloadSize": default.bulk.max_payload_size,
    }
    assert config["etag"]["supported"] is True and config["patch"]["supported"] is True
    assert [s["type"] for s in config["authenticationSchemes"]] == ["oauthbearertoken"]

    schema_ids = {s["id"] for s in http.get("/Schemas").json()["Resources"]}
    assert {USER, ENTERPRISE, "urn:ietf:params:scim:schemas:core:2.0:Group"} <= schema_ids
    user_type = http.get("/ResourceTypes/User").json()
    assert user_type["schemaExtensions"][0]["schema"] == ENTERPRISE


def test_requests_without_the_bearer_token_are_refused(scim: SandboxSet) -> None:
    response = httpx2.get(f"{scim.url('scim')}/acme/v2/Users")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].lower().startswith("bearer")
    wrong = httpx2.get(f"{scim.url('scim')}/acme/v2/Users", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401


def test_unknown_tenant_is_not_found(http: httpx2.Client, scim: SandboxSet) -> None:
    response = http.get(f"{scim.url('scim')}/initech/v2/Users")
    assert response.status_code == 404


def test_scim2_client_creates_then_finds_user_by_external_id(scim: SandboxSet, scim_env: dict[str, str]) -> None:
    with _http(scim, scim_env) as raw:
        client = SyncSCIMClient(raw)
        client.discover()
        user_model = client.get_resource_model("User")
        assert user_model is not None
        body = _user_body()
        created = client.create(user_model.model_validate(body))
        assert created.id and created.meta.version

        by_external_id = SearchRequest(filter=f'externalId eq "{body["externalId"]}"')
        found = client.query(user_model, query_parameters=by_external_id)
        assert isinstance(found, ListResponse)
        assert [u.id for u in found.resources] == [created.id]
        assert found.resources[0][ENTERPRISE].department == "Welding"


def test_patch_deactivates_user_and_bumps_version(
    http: httpx2.Client, scim: SandboxSet, scim_env: dict[str, str]
) -> None:
    user = _create(http)
    with _http(scim, scim_env) as raw:
        client = SyncSCIMClient(raw)
        client.discover()
        user_model = client.get_resource_model("User")
        patch = PatchOp[user_model](operations=[{"op": "replace", "path": "active", "value": False}])
        client.modify(user_model, user["id"], patch)

    fetched = http.get(f"/Users/{user['id']}")
    assert fetched.json()["active"] is False
    assert fetched.headers["etag"] != user["meta"]["version"]


def test_stale_if_match_is_rejected_with_412(http: httpx2.Client) -> None:
    user = _create(http)
    stale = user["meta"]["version"]
    patch = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "title", "value": "Welder"}],
    }
    first = http.patch(f"/Users/{user['id']}", json=patch, headers={"If-Match": stale})
    # scim2-server answers a PATCH without attributes parameters with 204 (RFC 7644 §3.5.2).
    assert first.status_code in (200, 204), first.text
    second = http.patch(f"/Users/{user['id']}", json=patch, headers={"If-Match": stale})
    assert second.status_code == 412


def test_duplicate_user_name_conflicts_with_409(http: httpx2.Client) -> None:
    user = _create(http)
    again = http.post("/Users", json=_user_body(userName=user["userName"]))
    assert again.status_code == 409
    assert Error.model_validate(again.json()).scim_type == "uniqueness"


def test_bulk_creates_every_user(http: httpx2.Client) -> None:
    bodies = [_user_body() for _ in range(3)]
    bulk = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": f"b{i}", "data": body} for i, body in enumerate(bodies)
        ],
    }
    response = http.post("/Bulk", json=bulk)
    assert response.status_code == 200, response.text
    assert [op["status"] for op in response.json()["Operations"]] == ["201"] * 3
    for body in bodies:
        found = http.get("/Users", params={"filter": f'userName eq "{body["userName"]}"'}).json()
        assert found["totalResults"] == 1


def test_list_is_paginated_with_start_index_and_count(scim: SandboxSet, scim_env: dict[str, str]) -> None:
    with _http(scim, scim_env, tenant="globex") as http:
        for _ in range(5):
            _create(http)
        total = http.get("/Users", params={"count": 0}).json()["totalResults"]
        seen: list[str] = []
        start = 1
        while start <= total:
            page = http.get("/Users", params={"startIndex": start, "count": 2}).json()
            assert page["itemsPerPage"] <= 2
            seen += [u["id"] for u in page["Resources"]]
            start += 2
        assert len(seen) == len(set(seen)) == total >= 5


def test_tenants_do_not_see_each_others_users(scim: SandboxSet, scim_env: dict[str, str]) -> None:
    with _http(scim, scim_env, "acme") as acme, _http(scim, scim_env, "globex") as globex:
        user = _create(acme)
        assert globex.get(f"/Users/{user['id']}").status_code == 404
        filtered = globex.get("/Users", params={"filter": f'externalId eq "{user["externalId"]}"'}).json()
        assert filtered["totalResults"] == 0


def test_stats_count_reads_and_writes_per_tenant(scim: SandboxSet, http: httpx2.Client) -> None:
    assert httpx2.delete(f"{scim.admin('scim')}/acme/stats").status_code == 200
    user = _create(http)
    http.get(f"/Users/{user['id']}")
    http.post("/Users/.search", json={"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]})
    stats = httpx2.get(f"{scim.admin('scim')}/acme/stats").json()
    assert stats["requests"] == {"POST": 2, "GET": 1}
    assert stats["writes"] == 1
    assert stats["resources"]["User"] >= 1
    assert httpx2.get(f"{scim.admin('scim')}/initech/stats").status_code == 404


def test_state_survives_restart_with_same_ids_and_etags(data_dir: Path, scim_env: dict[str, str]) -> None:
    # A data dir of its own: two live processes must never share one journal.
    restart_dir = data_dir / "restart"
    with start_all(restart_dir, env=scim_env, names=["scim"]) as first, _http(first, scim_env) as http:
        user = _create(http)
        deactivated = http.patch(
            f"/Users/{user['id']}",
            json={
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            },
        )
        assert deactivated.status_code in (200, 204)
        patched = http.get(f"/Users/{user['id']}").json()
        group = http.post(
            "/Groups",
            json={
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "welders",
                "members": [{"value": user["id"]}],
            },
        ).json()

    with start_all(restart_dir, env=scim_env, names=["scim"]) as second, _http(second, scim_env) as http:
        after = http.get(f"/Users/{user['id']}")
        assert after.status_code == 200
        assert after.json()["meta"] == {**patched["meta"], "location": after.json()["meta"]["location"]}
        assert after.json()["active"] is False
        assert after.json()[ENTERPRISE] == user[ENTERPRISE]
        assert http.get(f"/Groups/{group['id']}").json()["members"][0]["value"] == user["id"]

        # The pre-restart ETag still guards the resource, and new versions never reuse old ones.
        stale = http.put(
            f"/Users/{user['id']}",
            json=_user_body(userName=user["userName"]),
            headers={"If-Match": user["meta"]["version"]},
        )
        assert stale.status_code == 412
        newer = _create(http)
        old_versions = {user["meta"]["version"], patched["meta"]["version"], group["meta"]["version"]}
        assert newer["meta"]["version"] not in old_versions
        assert http.post("/Users", json=_user_body(userName=user["userName"])).status_code == 409


def test_admin_reset_empties_every_tenant(data_dir: Path, scim_env: dict[str, str]) -> None:
    with start_all(data_dir / "reset", env=scim_env, names=["scim"]) as running, _http(running, scim_env) as http:
        _create(http)
        assert httpx2.post(f"{running.admin('scim')}/reset").status_code == 200
        assert http.get("/Users").json()["totalResults"] == 0
        assert httpx2.get(f"{running.admin('scim')}/acme/stats").json()["resources"] == {}


def test_faults_switch_applies_to_scim_requests(scim: SandboxSet, http: httpx2.Client) -> None:
    faults = f"{scim.admin('scim')}/faults"
    assert httpx2.put(faults, json={"error_rate": 1.0, "error_status": 503}).status_code == 200
    try:
        assert http.get("/Users").status_code == 503
        assert httpx2.get(f"{scim.url('scim')}/health").status_code == 200
    finally:
        httpx2.delete(faults)
    assert http.get("/Users").status_code == 200


@pytest.mark.slow
def test_scim2_tester_finds_no_failures(scim: SandboxSet, scim_env: dict[str, str]) -> None:
    with _http(scim, scim_env, tenant="globex") as raw:
        results = check_server(SyncSCIMClient(raw))
    assert len(results) > 50
    failures = [(r.status.name, r.title, r.reason) for r in results if r.status not in (Status.SUCCESS, Status.SKIPPED)]
    assert failures == []
