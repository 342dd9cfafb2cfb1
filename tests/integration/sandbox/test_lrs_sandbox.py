"""The LRS sandbox over real HTTP, checked against the xAPI statement resource rules.

Each rule comes from xAPI 1.0.3 Communication 2.1 (PUT/POST/GET Statements, Voided
Statements) and Data 2.4 (Statement Properties); the LMS REST export follows
docs/architecture.md. The server runs as a uvicorn subprocess on a free port.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.launcher import start_all

TENANTS = ("acme", "globex", "pagingco")
CREDENTIALS = {t: [f"lrs-{t}-key", f"lrs-{t}-secret"] for t in TENANTS}
LMS_TOKENS = {t: f"lms-{t}-token" for t in TENANTS}
VERBS = "http://adlnet.gov/expapi/verbs/"
HOME = "https://lms.acme.example"


def _env(lag_seconds: float = 0) -> dict[str, str]:
    return {
        "SANDBOX_LRS_CREDENTIALS": json.dumps(CREDENTIALS),
        "SANDBOX_LMS_TOKENS": json.dumps(LMS_TOKENS),
        "SANDBOX_LRS_CONSISTENCY_LAG_S": str(lag_seconds),
        "SANDBOX_LRS_MAX_LIMIT": "50",
    }


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lrs-data")


@pytest.fixture(scope="module")
def lrs_url(data_dir: Path) -> Iterator[str]:
    with start_all(data_dir, env=_env(), names=["lrs"]) as sandboxes:
        yield sandboxes.url("lrs")


def _basic(tenant: str) -> str:
    key, secret = CREDENTIALS[tenant]
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def _client(base: str, tenant: str = "acme", version: str | None = "1.0.3") -> httpx.Client:
    headers = {"Authorization": _basic(tenant)}
    if version:
        headers["X-Experience-API-Version"] = version
    return httpx.Client(base_url=f"{base}/{tenant}/xAPI", headers=headers, timeout=30)


@pytest.fixture
def xapi(lrs_url: str) -> Iterator[httpx.Client]:
    with _client(lrs_url) as client:
        yield client


def statement(
    employee_id: str = "E1001",
    verb: str | dict[str, Any] = "completed",
    course: str = "SAFE-101",
    registration: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "actor": {"objectType": "Agent", "account": {"homePage": HOME, "name": employee_id}},
        "verb": verb if isinstance(verb, dict) else {"id": VERBS + verb, "display": {"en-US": verb}},
        "object": {"objectType": "Activity", "id": f"{HOME}/courses/{course}"},
    }
    if registration:
        body["context"] = {"registration": registration}
    body.update(extra)
    return body


def _query(client: httpx.Client, **params: Any) -> httpx.Response:
    response = client.get("/statements", params=params)
    assert response.status_code == 200, response.text
    return response


def _all_pages(client: httpx.Client, base: str, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Follow ``more`` until it is empty; return every statement and the number of pages."""
    body = _query(client, **params).json()
    statements, pages = list(body["statements"]), 1
    while body["more"]:
        response = client.get(base + body["more"])
        assert response.status_code == 200, response.text
        body = response.json()
        statements.extend(body["statements"])
        pages += 1
    return statements, pages


# -- About, versions, auth -------------------------------------------------------------------


def test_about_lists_1_0_3_and_2_0_0_without_auth_or_version_header(lrs_url: str) -> None:
    response = httpx.get(f"{lrs_url}/acme/xAPI/about")
    assert response.status_code == 200
    assert set(response.json()["version"]) == {"1.0.3", "2.0.0"}


def test_request_without_version_header_is_400(lrs_url: str) -> None:
    with _client(lrs_url, version=None) as client:
        response = client.get("/statements")
    assert response.status_code == 400
    assert "X-Experience-API-Version" in response.json()["message"]


def test_unsupported_version_is_400(lrs_url: str) -> None:
    with _client(lrs_url, version="0.95") as client:
        assert client.post("/statements", json=statement()).status_code == 400


@pytest.mark.parametrize(
    "authorization",
    [None, "Basic " + base64.b64encode(b"lrs-acme-key:wrong").decode(), _basic("globex"), "Bearer lms-acme-token"],
    ids=["missing", "wrong-secret", "other-tenants-credentials", "bearer-instead-of-basic"],
)
def test_statements_without_valid_basic_credentials_is_401(lrs_url: str, authorization: str | None) -> None:
    headers = {"X-Experience-API-Version": "1.0.3"}
    if authorization:
        headers["Authorization"] = authorization
    response = httpx.post(f"{lrs_url}/acme/xAPI/statements", json=statement(), headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_responses_echo_the_version_header(xapi: httpx.Client) -> None:
    assert _query(xapi, limit=1).headers["X-Experience-API-Version"] == "1.0.3"


# -- Storing and retrieving --------------------------------------------------------------------


def test_post_assigns_id_and_lrs_sets_stored_authority_version_timestamp(xapi: httpx.Client) -> None:
    posted = statement(employee_id="E-ROUNDTRIP")
    before = datetime.now(UTC)
    response = xapi.post("/statements", json=posted)
    assert response.status_code == 200, response.text
    [statement_id] = response.json()
    assert uuid.UUID(statement_id)

    got = xapi.get("/statements", params={"statementId": statement_id})
    assert got.status_code == 200
    stored = got.json()
    assert stored["id"] == statement_id
    assert stored["actor"] == posted["actor"] and stored["verb"] == posted["verb"]
    stored_at = datetime.fromisoformat(stored["stored"].replace("Z", "+00:00"))
    assert before - timedelta(seconds=1) <= stored_at <= datetime.now(UTC) + timedelta(seconds=1)
    assert stored["timestamp"] == stored["stored"], "timestamp defaults to stored when absent"
    assert stored["authority"]["account"]["name"] == CREDENTIALS["acme"][0]
    assert stored["version"] == "1.0.0"
    assert "Last-Modified" in got.headers


def test_lrs_overwrites_authority_and_stored_sent_by_the_client(xapi: httpx.Client) -> None:
    forged = statement(
        stored="2001-01-01T00:00:00Z",
        authority={"objectType": "Agent", "mbox": "mailto:forger@example.com"},
    )
    [statement_id] = xapi.post("/statements", json=forged).json()
    stored = xapi.get("/statements", params={"statementId": statement_id}).json()
    assert not stored["stored"].startswith("2001")
    assert stored["authority"]["account"]["name"] == CREDENTIALS["acme"][0]


def test_put_stores_under_statement_id_and_identical_repeat_is_idempotent(xapi: httpx.Client) -> None:
    statement_id = str(uuid.uuid4())
    body = statement(timestamp="2024-03-01T10:00:00Z")
    first = xapi.put("/statements", params={"statementId": statement_id}, json=body)
    assert first.status_code == 204, first.text
    stored_first = xapi.get("/statements", params={"statementId": statement_id}).json()

    # The same statement with the id inside and the timestamp written differently is "the same".
    again = {**body, "id": statement_id.upper(), "timestamp": "2024-03-01T11:00:00+01:00"}
    assert xapi.put("/statements", params={"statementId": statement_id}, json=again).status_code == 204
    assert xapi.post("/statements", json=again).json() == [statement_id]
    assert xapi.get("/statements", params={"statementId": statement_id}).json() == stored_first


def test_put_without_statement_id_or_with_mismatched_id_is_400(xapi: httpx.Client) -> None:
    assert xapi.put("/statements", json=statement()).status_code == 400
    mismatched = statement(id=str(uuid.uuid4()))
    response = xapi.put("/statements", params={"statementId": str(uuid.uuid4())}, json=mismatched)
    assert response.status_code == 400


def test_different_statement_with_existing_id_is_409_and_changes_nothing(xapi: httpx.Client) -> None:
    statement_id = str(uuid.uuid4())
    xapi.put("/statements", params={"statementId": statement_id}, json=statement(verb="passed"))
    original = xapi.get("/statements", params={"statementId": statement_id}).json()

    changed = statement(verb="failed")
    assert xapi.put("/statements", params={"statementId": statement_id}, json=changed).status_code == 409
    batch = [statement(employee_id="E-BATCH-409"), {**changed, "id": statement_id}]
    assert xapi.post("/statements", json=batch).status_code == 409

    assert xapi.get("/statements", params={"statementId": statement_id}).json() == original
    agent = json.dumps({"account": {"homePage": HOME, "name": "E-BATCH-409"}})
    assert _query(xapi, agent=agent).json()["statements"] == [], "a refused batch stores nothing"


def test_post_batch_returns_ids_in_order(xapi: httpx.Client) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    batch = [statement(employee_id=f"E-B{i}", id=ids[i]) for i in range(3)] + [statement(employee_id="E-B3")]
    response = xapi.post("/statements", json=batch)
    assert response.status_code == 200
    returned = response.json()
    assert returned[:3] == ids and len(returned) == 4
    for index, statement_id in enumerate(returned):
        got = xapi.get("/statements", params={"statementId": statement_id}).json()
        assert got["actor"]["account"]["name"] == f"E-B{index}"


def test_batch_with_duplicate_ids_is_400(xapi: httpx.Client) -> None:
    statement_id = str(uuid.uuid4())
    response = xapi.post("/statements", json=[statement(id=statement_id), statement(id=statement_id)])
    assert response.status_code == 400


def test_xapi_2_0_requests_are_accepted_and_stored_as_2_0_0(lrs_url: str) -> None:
    with _client(lrs_url, version="2.0.0") as client:
        response = client.post("/statements", json=statement(timestamp="2024-05-01T08:00:00Z"))
        assert response.status_code == 200, response.text
        assert response.headers["X-Experience-API-Version"] == "2.0.0"
        stored = client.get("/statements", params={"statementId": response.json()[0]}).json()
        assert stored["version"] == "2.0.0"
        # 2.0 requires a timezone on timestamps; 1.0.3 takes a naive one as UTC.
        assert client.post("/statements", json=statement(timestamp="2024-05-01T08:00:00")).status_code == 400
    with _client(lrs_url, version="1.0.3") as client:
        assert client.post("/statements", json=statement(timestamp="2024-05-01T08:00:00")).status_code == 200


def _without(prop: str) -> dict[str, Any]:
    body = statement()
    del body[prop]
    return body


def _with_score(**score: float) -> dict[str, Any]:
    return statement(result={"score": score})


INVALID_STATEMENTS = {
    "missing-actor": (_without("actor"), "actor"),
    "missing-verb": (_without("verb"), "verb"),
    "missing-object": (_without("object"), "object"),
    "verb-id-not-iri": ({**statement(), "verb": {"id": "completed"}}, "verb.id"),
    "id-not-uuid": (statement(id="not-a-uuid"), "statement.id"),
    "scaled-above-1": (_with_score(scaled=1.4), "score.scaled"),
    "scaled-below-minus-1": (_with_score(scaled=-1.2), "score.scaled"),
    "raw-above-max": (_with_score(raw=140, min=0, max=100), "score.raw"),
    "raw-below-min": (_with_score(raw=-5, min=0, max=100), "score.raw"),
    "mbox-without-mailto": (statement(actor={"mbox": "jane@example.com"}), "actor.mbox"),
    "agent-with-two-identifiers": (
        statement(actor={"mbox": "mailto:jane@example.com", "openid": "https://id.example/jane"}),
        "actor",
    ),
    "agent-without-identifier": (statement(actor={"name": "Jane"}), "actor"),
    "registration-not-uuid": (statement(context={"registration": "abc"}), "context.registration"),
    "unknown-property": (statement(grade="A"), "grade"),
    "timestamp-not-iso": (statement(timestamp="yesterday"), "timestamp"),
    "voided-verb-on-activity": (statement(verb="voided"), "object"),
}


@pytest.mark.parametrize("case", list(INVALID_STATEMENTS), ids=list(INVALID_STATEMENTS))
def test_invalid_statement_is_400_naming_the_property(xapi: httpx.Client, case: str) -> None:
    body, named = INVALID_STATEMENTS[case]
    response = xapi.post("/statements", json=body)
    assert response.status_code == 400, response.text
    assert named in response.json()["message"]


def test_invalid_statement_in_batch_stores_none_of_the_batch(xapi: httpx.Client) -> None:
    registration = str(uuid.uuid4())
    batch = [statement(registration=registration), _with_score(scaled=2.0)]
    response = xapi.post("/statements", json=batch)
    assert response.status_code == 400
    assert "statement[1]" in response.json()["message"]
    assert _query(xapi, registration=registration).json()["statements"] == []


# -- Querying ----------------------------------------------------------------------------------


def test_paging_via_more_returns_every_statement_exactly_once(lrs_url: str) -> None:
    with _client(lrs_url, tenant="pagingco") as client:
        posted: list[str] = []
        for start in range(0, 23, 5):
            posted += client.post(
                "/statements", json=[statement(employee_id=f"P{i}") for i in range(start, min(start + 5, 23))]
            ).json()
        seen, pages = _all_pages(client, lrs_url, limit=4)
    ids = [s["id"] for s in seen]
    assert sorted(ids) == sorted(posted) and len(ids) == len(set(ids))
    assert pages == 6


def test_limit_zero_means_server_maximum(lrs_url: str) -> None:
    with _client(lrs_url, tenant="pagingco") as client:
        client.post("/statements", json=[statement(employee_id=f"MAX{i}") for i in range(60)])
        body = _query(client, limit=0).json()
    assert len(body["statements"]) == 50  # SANDBOX_LRS_MAX_LIMIT
    assert body["more"]


def test_more_link_is_relative_and_carries_the_query(xapi: httpx.Client, lrs_url: str) -> None:
    registration = str(uuid.uuid4())
    xapi.post("/statements", json=[statement(registration=registration) for _ in range(3)])
    more = _query(xapi, registration=registration, limit=2, ascending="true").json()["more"]
    assert more.startswith("/acme/xAPI/statements?")
    assert f"registration={registration}" in more and "ascending=true" in more and "more=" in more
    last = xapi.get(lrs_url + more).json()
    assert len(last["statements"]) == 1 and last["more"] == ""


def test_empty_result_is_200_with_empty_statements_and_empty_more(xapi: httpx.Client) -> None:
    body = _query(xapi, registration=str(uuid.uuid4())).json()
    assert body == {"statements": [], "more": ""}


def test_results_are_ordered_by_stored_descending_unless_ascending(xapi: httpx.Client) -> None:
    registration = str(uuid.uuid4())
    ids = [xapi.post("/statements", json=statement(registration=registration)).json()[0] for _ in range(4)]
    descending = [s["id"] for s in _query(xapi, registration=registration).json()["statements"]]
    ascending = [s["id"] for s in _query(xapi, registration=registration, ascending="true").json()["statements"]]
    assert descending == list(reversed(ids))
    assert ascending == ids


def test_since_is_exclusive_and_until_is_inclusive_on_stored(xapi: httpx.Client) -> None:
    registration = str(uuid.uuid4())
    ids = [xapi.post("/statements", json=statement(registration=registration)).json()[0] for _ in range(3)]
    stored = [xapi.get("/statements", params={"statementId": i}).json()["stored"] for i in ids]
    assert stored == sorted(stored) and len(set(stored)) == 3

    def window(**bounds: str) -> list[str]:
        found = _query(xapi, registration=registration, ascending="true", **bounds).json()["statements"]
        return [s["id"] for s in found]

    assert window(since=stored[0]) == ids[1:]
    assert window(until=stored[1]) == ids[:2]
    assert window(since=stored[0], until=stored[1]) == [ids[1]]
    assert window(since=stored[2]) == []


def test_verb_activity_and_agent_filters_select_matching_statements(xapi: httpx.Client) -> None:
    registration = str(uuid.uuid4())
    alice = {"objectType": "Agent", "mbox": "mailto:alice@acme.example"}
    ids = {
        "alice-passed-fire": statement(actor=alice, verb="passed", course="FIRE-1", registration=registration),
        "bob-failed-fire": statement(employee_id="BOB", verb="failed", course="FIRE-1", registration=registration),
        "bob-passed-crane": statement(employee_id="BOB", verb="passed", course="CRANE-2", registration=registration),
    }
    for name, body in ids.items():
        ids[name] = xapi.post("/statements", json=body).json()[0]

    def matching(**params: str) -> set[str]:
        found = _query(xapi, registration=registration, **params).json()["statements"]
        return {name for name, sid in ids.items() if sid in {s["id"] for s in found}}

    assert matching(verb=VERBS + "passed") == {"alice-passed-fire", "bob-passed-crane"}
    assert matching(activity=f"{HOME}/courses/FIRE-1") == {"alice-passed-fire", "bob-failed-fire"}
    assert matching(agent=json.dumps(alice)) == {"alice-passed-fire"}
    assert matching(agent=json.dumps({"account": {"homePage": HOME, "name": "BOB"}})) == {
        "bob-failed-fire",
        "bob-passed-crane",
    }
    assert matching(agent=json.dumps({"account": {"homePage": HOME, "name": "BOB"}}), verb=VERBS + "passed") == {
        "bob-passed-crane"
    }


def test_agent_filter_matches_by_mbox_sha1sum_and_openid(xapi: httpx.Client) -> None:
    registration = str(uuid.uuid4())
    sha1 = "a" * 40
    by_sha = xapi.post("/statements", json=statement(actor={"mbox_sha1sum": sha1}, registration=registration)).json()
    by_openid = xapi.post(
        "/statements", json=statement(actor={"openid": "https://id.example/u/7"}, registration=registration)
    ).json()
    assert [s["id"] for s in _query(xapi, agent=json.dumps({"mbox_sha1sum": sha1})).json()["statements"]] == by_sha
    found = _query(xapi, agent=json.dumps({"openid": "https://id.example/u/7"})).json()["statements"]
    assert [s["id"] for s in found] == by_openid


def test_invalid_query_parameters_are_400(xapi: httpx.Client) -> None:
    statement_id = xapi.post("/statements", json=statement()).json()[0]
    bad = [
        {"statementId": statement_id, "voidedStatementId": statement_id},
        {"statementId": statement_id, "verb": VERBS + "passed"},
        {"agent": "not json"},
        {"agent": json.dumps({"name": "no identifier"})},
        {"since": "last tuesday"},
        {"limit": "-1"},
        {"ascending": "yes"},
        {"format": "full"},
        {"colour": "blue"},
    ]
    for params in bad:
        assert xapi.get("/statements", params=params).status_code == 400, params


def test_format_ids_keeps_only_identifying_properties(xapi: httpx.Client) -> None:
    body = statement(
        actor={"objectType": "Agent", "name": "Jane", "mbox": "mailto:jane@acme.example"},
        object={"objectType": "Activity", "id": f"{HOME}/courses/X", "definition": {"name": {"en-US": "X"}}},
    )
    statement_id = xapi.post("/statements", json=body).json()[0]
    ids = xapi.get("/statements", params={"statementId": statement_id, "format": "ids"}).json()
    assert ids["actor"] == {"objectType": "Agent", "mbox": "mailto:jane@acme.example"}
    assert ids["verb"] == {"id": VERBS + "completed"}
    assert ids["object"] == {"objectType": "Activity", "id": f"{HOME}/courses/X"}


def test_canonical_format_returns_one_language_per_map(xapi: httpx.Client) -> None:
    body = statement(verb={"id": VERBS + "completed", "display": {"en-US": "completed", "de-DE": "abgeschlossen"}})
    statement_id = xapi.post("/statements", json=body).json()[0]
    got = xapi.get(
        "/statements",
        params={"statementId": statement_id, "format": "canonical"},
        headers={"Accept-Language": "de-DE"},
    ).json()
    assert got["verb"]["display"] == {"de-DE": "abgeschlossen"}


# -- Voiding -----------------------------------------------------------------------------------


def test_voided_statement_is_hidden_from_queries_and_found_by_voided_statement_id(xapi: httpx.Client) -> None:
    registration = str(uuid.uuid4())
    target = xapi.post("/statements", json=statement(course="VOID-1", registration=registration)).json()[0]
    voiding = statement(employee_id="LMS-ADMIN", verb="voided", object={"objectType": "StatementRef", "id": target})
    voiding_id = xapi.post("/statements", json=voiding).json()[0]

    assert xapi.get("/statements", params={"statementId": target}).status_code == 404
    voided = xapi.get("/statements", params={"voidedStatementId": target})
    assert voided.status_code == 200 and voided.json()["id"] == target
    assert xapi.get("/statements", params={"voidedStatementId": voiding_id}).status_code == 404

    found = {s["id"] for s in _query(xapi, activity=f"{HOME}/courses/VOID-1").json()["statements"]}
    # The voiding statement matches the activity filter through its StatementRef; the voided one never shows.
    assert voiding_id in found and target not in found
    assert target not in {s["id"] for s in _query(xapi, registration=registration).json()["statements"]}


def test_voiding_a_voiding_statement_is_rejected(xapi: httpx.Client) -> None:
    target = xapi.post("/statements", json=statement()).json()[0]
    first = xapi.post(
        "/statements", json=statement(verb="voided", object={"objectType": "StatementRef", "id": target})
    ).json()[0]
    second = statement(verb="voided", object={"objectType": "StatementRef", "id": first})
    response = xapi.post("/statements", json=second)
    assert response.status_code == 400
    assert "cannot be voided" in response.json()["message"]
    assert xapi.get("/statements", params={"statementId": first}).status_code == 200


# -- Consistent-Through, durability, concurrency -----------------------------------------------


def _consistent_through(response: httpx.Response) -> datetime:
    return datetime.fromisoformat(response.headers["X-Experience-API-Consistent-Through"].replace("Z", "+00:00"))


def test_consistent_through_header_covers_what_was_just_stored(xapi: httpx.Client) -> None:
    statement_id = xapi.post("/statements", json=statement()).json()[0]
    stored = xapi.get("/statements", params={"statementId": statement_id}).json()["stored"]
    response = _query(xapi, limit=1)
    through = _consistent_through(response)
    assert datetime.fromisoformat(stored.replace("Z", "+00:00")) <= through <= datetime.now(UTC)
    assert (
        "X-Experience-API-Consistent-Through" in xapi.get("/statements", params={"statementId": statement_id}).headers
    )


def test_consistent_through_lags_by_the_configured_seconds(data_dir: Path) -> None:
    lagging = start_all(data_dir / "lagging", env=_env(lag_seconds=120), names=["lrs"])
    with lagging, _client(lagging.url("lrs")) as client:
        client.post("/statements", json=statement()).raise_for_status()
        response = _query(client, limit=1)
    lag = datetime.now(UTC) - _consistent_through(response)
    assert timedelta(seconds=119) <= lag <= timedelta(seconds=130)
    stored = datetime.fromisoformat(response.json()["statements"][0]["stored"].replace("Z", "+00:00"))
    assert _consistent_through(response) < stored, "a client must not advance its watermark to this statement yet"


def test_restart_on_the_same_data_dir_keeps_statements(data_dir: Path) -> None:
    with start_all(data_dir / "restart", env=_env(), names=["lrs"]) as first, _client(first.url("lrs")) as client:
        kept = client.post("/statements", json=statement(employee_id="E-RESTART")).json()[0]
    with start_all(data_dir / "restart", env=_env(), names=["lrs"]) as second, _client(second.url("lrs")) as client:
        assert client.get("/statements", params={"statementId": kept}).json()["id"] == kept


def test_concurrent_posts_all_land_with_distinct_ids(xapi: httpx.Client, lrs_url: str) -> None:
    registration = str(uuid.uuid4())

    def post(index: int) -> list[str]:
        response = xapi.post("/statements", json=statement(employee_id=f"C{index}", registration=registration))
        assert response.status_code == 200, response.text
        return response.json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = [sid for result in pool.map(post, range(40)) for sid in result]
    found, _ = _all_pages(xapi, lrs_url, registration=registration, limit=15)
    assert sorted(s["id"] for s in found) == sorted(ids) and len(set(ids)) == 40


# -- Admin ---------------------------------------------------------------------------------------


def test_admin_injection_bypasses_validation_so_pipelines_can_meet_bad_statements(
    xapi: httpx.Client, lrs_url: str
) -> None:
    registration = str(uuid.uuid4())
    future = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    bad = [
        {
            "verb": {"id": VERBS + "completed"},
            "object": {"id": f"{HOME}/courses/X"},
            "context": {"registration": registration},
        },
        statement(result={"score": {"scaled": 1.4, "raw": 140, "min": 0, "max": 100}}, registration=registration),
        statement(timestamp=future, registration=registration),
        statement(verb={"id": "https://example.com/verbs/pondered"}, registration=registration),
    ]
    response = httpx.post(f"{lrs_url}/admin/acme/statements", json=bad)
    assert response.status_code == 200 and response.json()["added"] == 4
    found = _query(xapi, registration=registration).json()["statements"]
    assert len(found) == 4
    assert any("actor" not in s for s in found)
    assert any(s.get("result", {}).get("score", {}).get("scaled") == 1.4 for s in found)


def test_admin_seed_loads_synthetic_history_once_and_serves_it_over_xapi(xapi: httpx.Client, lrs_url: str) -> None:
    from sandbox.synth.learning import iter_statements

    response = httpx.post(f"{lrs_url}/admin/acme/seed", json={"workers": 60, "seed": 7}, timeout=60)
    assert response.status_code == 200, response.text
    added = response.json()["added"]
    expected = list(iter_statements("acme", 60, 7))
    assert added["statements"] == len(expected) and added["completions"] > 0
    again = httpx.post(f"{lrs_url}/admin/acme/seed", json={"workers": 60, "seed": 7}, timeout=60).json()["added"]
    assert again == {"statements": 0, "completions": 0}

    voiding = [s for s in expected if s["verb"]["id"] == VERBS + "voided"]
    assert voiding, "the synthetic history includes voided statements"
    target = voiding[0]["object"]["id"]
    assert xapi.get("/statements", params={"statementId": target}).status_code == 404
    assert xapi.get("/statements", params={"voidedStatementId": target}).status_code == 200
    actor = expected[0]["actor"]
    mine = [s for s in expected if s["actor"] == actor and s["verb"]["id"] != VERBS + "voided"]
    voided_ids = {s["object"]["id"] for s in voiding}
    found, _ = _all_pages(xapi, lrs_url, agent=json.dumps(actor), limit=5)
    assert {s["id"] for s in mine} - voided_ids <= {s["id"] for s in found}


def test_seed_from_env_runs_at_first_start_only(data_dir: Path) -> None:
    env = {**_env(), "SANDBOX_SEED": json.dumps({"tenants": {"globex": {"workers": 5, "seed": 3}}})}
    with start_all(data_dir / "env-seed", env=env, names=["lrs"]) as first:
        counts = httpx.get(f"{first.url('lrs')}/admin/globex/stats").json()
        httpx.post(f"{first.url('lrs')}/admin/globex/statements", json=[statement()]).raise_for_status()
    assert counts["statements"] > 0 and counts["completions"] > 0
    with start_all(data_dir / "env-seed", env=env, names=["lrs"]) as second:
        again = httpx.get(f"{second.url('lrs')}/admin/globex/stats").json()
    assert again["statements"] == counts["statements"] + 1, "a non-empty tenant is not seeded again"


def test_admin_reset_empties_every_tenant(data_dir: Path) -> None:
    with start_all(data_dir / "reset", env=_env(), names=["lrs"]) as lrs:
        base = lrs.url("lrs")
        httpx.post(f"{base}/admin/acme/statements", json=[statement()]).raise_for_status()
        httpx.post(f"{base}/admin/globex/completions", json=[_completion(1, "2024-01-01T00:00:00Z")]).raise_for_status()
        assert httpx.post(f"{base}/admin/reset").status_code == 200
        assert httpx.get(f"{base}/admin/acme/stats").json()["statements"] == 0
        assert httpx.get(f"{base}/admin/globex/stats").json()["completions"] == 0
        assert httpx.get(f"{base}/health").json() == {"status": "ok"}


def test_fault_switches_hit_business_endpoints_but_never_admin_or_health(xapi: httpx.Client, lrs_url: str) -> None:
    httpx.put(f"{lrs_url}/admin/faults", json={"error_rate": 1.0, "error_status": 503}).raise_for_status()
    try:
        assert xapi.get("/statements", params={"limit": 1}).status_code == 503
        assert httpx.get(f"{lrs_url}/health").status_code == 200
    finally:
        httpx.delete(f"{lrs_url}/admin/faults").raise_for_status()
    assert xapi.get("/statements", params={"limit": 1}).status_code == 200


# -- LMS REST completions ------------------------------------------------------------------------


def _completion(index: int, updated_at: str) -> dict[str, Any]:
    return {
        "enrollment_id": f"ENR-{index:03d}",
        "user_external_id": f"E{1000 + index}",
        "course_code": "SAFE-101",
        "completion_status": "completed",
        "success_status": "passed" if index % 2 else "failed",
        "score": {"raw": 80, "min": 0, "max": 100, "scaled": 0.8},
        "completed_at": updated_at,
        "updated_at": updated_at,
    }


@pytest.fixture(scope="module")
def lms_items(lrs_url: str) -> list[dict[str, Any]]:
    # Two items share an updated_at so paging must tie-break on enrollment_id.
    stamps = [f"2024-01-0{day}T09:00:00Z" for day in (1, 2, 2, 3, 4, 5, 6)]
    items = [_completion(index, stamp) for index, stamp in enumerate(stamps)]
    response = httpx.post(f"{lrs_url}/admin/globex/completions", json=items)
    assert response.status_code == 200
    return items


def _lms(lrs_url: str, tenant: str, token: str | None, **params: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(f"{lrs_url}/{tenant}/lms/api/v1/completions", params=params, headers=headers)


def test_lms_completions_page_through_every_item_once_in_updated_order(
    lrs_url: str, lms_items: list[dict[str, Any]]
) -> None:
    seen, token, pages = [], None, 0
    while True:
        params = {"page_size": 3, **({"page_token": token} if token else {})}
        body = _lms(lrs_url, "globex", LMS_TOKENS["globex"], **params).json()
        seen += body["items"]
        pages += 1
        token = body["next_page_token"]
        if token is None:
            break
    assert [i["enrollment_id"] for i in seen] == [i["enrollment_id"] for i in lms_items]
    assert pages == 3
    assert seen[0] == lms_items[0]


def test_lms_updated_since_is_inclusive_and_token_keeps_the_window(
    lrs_url: str, lms_items: list[dict[str, Any]]
) -> None:
    first = _lms(lrs_url, "globex", LMS_TOKENS["globex"], updated_since="2024-01-02T09:00:00Z", page_size=2).json()
    assert [i["enrollment_id"] for i in first["items"]] == ["ENR-001", "ENR-002"]
    rest = _lms(lrs_url, "globex", LMS_TOKENS["globex"], page_token=first["next_page_token"], page_size=10).json()
    assert [i["enrollment_id"] for i in rest["items"]] == ["ENR-003", "ENR-004", "ENR-005", "ENR-006"]
    assert rest["next_page_token"] is None


def test_lms_update_moves_item_to_the_end_of_the_delta(lrs_url: str, lms_items: list[dict[str, Any]]) -> None:
    changed = {**lms_items[0], "success_status": "passed", "updated_at": "2024-02-01T00:00:00Z"}
    httpx.post(f"{lrs_url}/admin/globex/completions", json=[changed]).raise_for_status()
    body = _lms(lrs_url, "globex", LMS_TOKENS["globex"], updated_since="2024-01-20T00:00:00Z").json()
    assert body["items"] == [changed]


@pytest.mark.parametrize("token", [None, "wrong", LMS_TOKENS["acme"]], ids=["missing", "wrong", "other-tenant"])
def test_lms_completions_without_the_tenants_bearer_token_is_401(lrs_url: str, token: str | None) -> None:
    assert _lms(lrs_url, "globex", token).status_code == 401


def test_lms_bad_parameters_are_400(lrs_url: str) -> None:
    token = LMS_TOKENS["globex"]
    assert _lms(lrs_url, "globex", token, page_size=0).status_code == 400
    assert _lms(lrs_url, "globex", token, updated_since="soon").status_code == 400
    assert _lms(lrs_url, "globex", token, page_token="garbage!").status_code == 400
