"""The marketplace sandbox's career-path eligibility endpoint over real HTTP (contract: docs/marketplace.md)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox.launcher import SandboxSet
from tests.integration.sandbox import test_marketplace_sandbox as sandbox_tests
from tests.integration.sandbox.test_marketplace_sandbox import marketplace, profile

# A dropped connection reaches the client as EOF or, when the server closed with request bytes
# unread (the kernel then sends a reset), as ECONNRESET: both are "no answer".
NO_ANSWER = (httpx.RemoteProtocolError, httpx.ReadError)

__all__ = ["marketplace"]  # the module-scoped sandbox fixture, as the sandbox tests start it
HTTP = httpx.Client(timeout=10)
Tenant, faults = sandbox_tests.Tenant, sandbox_tests.faults


@pytest.fixture(scope="module", autouse=True)
def _own_http_client() -> Iterator[None]:
    """The sandbox tests' helpers on this module's client: theirs is closed at their module's end, and a
    connection the lost-answer fault broke is not handed back to them."""
    shared = sandbox_tests.HTTP
    sandbox_tests.HTTP = HTTP
    yield
    sandbox_tests.HTTP = shared
    HTTP.close()


def grant(eligible_for: str = "senior_technician", **overrides: Any) -> dict[str, Any]:
    return {"eligible_for": eligible_for, "rule_id": "senior-technician", "rule_version": 1,
            "granted_at": "2026-03-05T09:30:00Z", "review_state": None, **overrides}


def put(acme: Tenant, member_id: str, body: dict[str, Any], headers: dict[str, str], key: str | None = None,
        eligible_for: str | None = None) -> httpx.Response:
    return HTTP.put(f"{acme.url}/v1/members/{member_id}/eligibility/{eligible_for or body['eligible_for']}",
                    json=body, headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex})


def test_eligibility_is_stored_listed_replaced_and_in_the_state(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    writer, reader = acme.bearer("write:members"), acme.bearer("read:members")
    member = profile()
    acme.put_member(member, writer)
    member_id = member["member_id"]

    created = put(acme, member_id, grant(), writer, key="elig-1")
    assert created.status_code == 201, created.text
    assert created.json()["member_id"] == member_id and created.json()["rule_version"] == 1
    replayed = put(acme, member_id, grant(), writer, key="elig-1")
    assert replayed.status_code == 201 and replayed.headers["idempotent-replayed"] == "true"
    changed = put(acme, member_id, grant(review_state="prerequisite_lapsed"), writer, key="elig-2")
    assert changed.status_code == 200 and changed.json()["review_state"] == "prerequisite_lapsed"

    listed = HTTP.get(f"{acme.url}/v1/members/{member_id}/eligibility", headers=reader)
    assert listed.status_code == 200
    assert [(e["eligible_for"], e["review_state"]) for e in listed.json()["data"]] == [
        ("senior_technician", "prerequisite_lapsed")]
    stored = [e for e in acme.state()["eligibility"] if e["member_id"] == member_id]
    assert len(stored) == 1 and stored[0]["tenant"] == "acme"
    # Another tenant never sees it: its member answers like a missing one.
    globex = Tenant(marketplace, "globex")
    other = HTTP.get(f"{acme.url}/v1/members/{member_id}/eligibility", headers=globex.bearer("read:members"))
    assert other.status_code == 404 and other.json()["code"] == "not_found"


def test_unknown_member_bad_body_missing_key_and_scope(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    writer = acme.bearer("write:members")
    unknown = put(acme, "NOBODY-1", grant(), writer)
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    # A refusal is not stored under its key: once the member exists the same request goes through.
    key = "elig-" + uuid.uuid4().hex
    assert put(acme, "LATER-1", grant(), writer, key=key).status_code == 404
    acme.put_member(profile("LATER-1"), writer)
    assert put(acme, "LATER-1", grant(), writer, key=key).status_code == 201

    member = profile()
    acme.put_member(member, writer)
    mismatch = put(acme, member["member_id"], grant(), writer, eligible_for="hazmat_team_lead")
    assert mismatch.status_code == 422 and mismatch.json()["code"] == "validation_failed"
    extra = put(acme, member["member_id"], {**grant(), "salary": 1}, writer)
    assert extra.status_code == 422
    no_key = HTTP.put(f"{acme.url}/v1/members/{member['member_id']}/eligibility/senior_technician", json=grant(),
                      headers=writer)
    assert no_key.status_code == 400 and no_key.json()["code"] == "idempotency_key_required"
    no_scope = put(acme, member["member_id"], grant(), acme.bearer("read:members"))
    assert no_scope.status_code == 403
    conflict_key = "elig-" + uuid.uuid4().hex
    assert put(acme, member["member_id"], grant(), writer, key=conflict_key).status_code == 201
    conflict = put(acme, member["member_id"], grant(rule_version=2), writer, key=conflict_key)
    assert conflict.status_code == 422 and conflict.json()["code"] == "idempotency_conflict"


def test_a_lost_answer_is_applied_once_and_replayed(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    writer = acme.bearer("write:members")
    member = profile()
    acme.put_member(member, writer)
    with faults(acme, {"lost_response_rate": 1, "paths": ["/v1/members"], "methods": ["PUT"]}), \
            pytest.raises(NO_ANSWER):
        put(acme, member["member_id"], grant(), writer, key="elig-lost")
    resent = put(acme, member["member_id"], grant(), writer, key="elig-lost")
    assert resent.status_code == 201 and resent.headers["idempotent-replayed"] == "true"
    stored = [e for e in acme.state()["eligibility"] if e["member_id"] == member["member_id"]]
    assert len(stored) == 1
