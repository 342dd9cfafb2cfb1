"""The registry client's OAuth2 token handling against the real sandbox (token TTL 5 s here)."""

from __future__ import annotations

import time

from tests.integration.delivery.helpers import admin


def test_token_is_cached_then_refreshed_before_it_expires(registry_client):
    first = registry_client.access_token()
    assert registry_client.access_token() == first
    time.sleep(4.1)  # TTL 5 s minus the 1 s refresh margin
    second = registry_client.access_token()
    assert second != first
    assert list(registry_client.list_certificates("acme")) == []


def test_a_token_the_registry_forgot_is_replaced_once_on_401(registry_client, registry_url):
    registry_client.access_token()
    admin(registry_url, "POST", "/admin/reset")  # drops every issued token
    outcome, attempts = registry_client.create("cs-test-v1-issue", {
        "tenant_id": "acme", "learner_id": "E1", "learner_name": "Ann Example", "credential_type": "cpr_aed",
        "credential_version": "2026-01-10.v1", "issued_on": "2026-01-10", "issuer": "credsync-training"})
    assert outcome.status == 201 and outcome.registry_id.startswith("REG-")
    assert [a.status for a in attempts] == [401, 201]


def test_registry_answers_409_with_the_existing_id_for_a_second_key(registry_client):
    certificate = {"tenant_id": "acme", "learner_id": "E2", "learner_name": "Bo Example",
                   "credential_type": "cpr_aed", "credential_version": "2026-01-10.v1",
                   "issued_on": "2026-01-10", "issuer": "credsync-training"}
    created, _ = registry_client.create("cs-a-v1-issue", certificate)
    replayed, _ = registry_client.create("cs-a-v1-issue", certificate)
    duplicate, _ = registry_client.create("cs-b-v1-issue", certificate)
    assert (created.status, replayed.status, duplicate.status) == (201, 201, 409)
    assert replayed.replayed and duplicate.accepted
    assert created.registry_id == replayed.registry_id == duplicate.registry_id
