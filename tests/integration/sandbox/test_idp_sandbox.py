"""The IdP sandbox speaks Okta's Groups API: bare arrays, Link-header paging, SSWS auth, faults."""

from __future__ import annotations

import json

import pytest
import requests

from credsync.hooks.idp import IdpClient, next_link

TENANT = "acme"
USERS = [{"employeeNumber": f"E{n:03d}", "roles": ["trainer"] if n % 2 else [], "groups": ["First Aiders"]}
         for n in range(5)]


@pytest.fixture
def idp(sandboxes):
    base = sandboxes.url("idp")
    requests.post(f"{base}/admin/reset", timeout=10).raise_for_status()
    requests.delete(f"{base}/admin/faults", timeout=10).raise_for_status()
    requests.put(f"{base}/admin/tenants/{TENANT}/directory", json={"users": USERS}, timeout=10).raise_for_status()
    yield base, json.loads(sandboxes.env["SANDBOX_IDP_TOKENS"])[TENANT]
    requests.delete(f"{base}/admin/faults", timeout=10)


def test_pages_follow_the_link_header_until_there_is_no_next(idp) -> None:
    base, token = idp
    first = requests.get(f"{base}/{TENANT}/api/v1/users", params={"limit": 2}, timeout=10,
                         headers={"Authorization": f"SSWS {token}"})
    assert first.status_code == 200 and isinstance(first.json(), list) and len(first.json()) == 2
    assert 'rel="self"' in first.headers["Link"] and next_link(first.headers)

    client = IdpClient.for_url(f"{base}/{TENANT}", token, page_size=2)
    users = list(client.users())
    assert sorted(u["profile"]["employeeNumber"] for u in users) == [u["employeeNumber"] for u in USERS]
    assert len({u["id"] for u in users}) == 5
    (group,) = client.groups()
    assert group["type"] == "OKTA_GROUP" and group["profile"]["name"] == "First Aiders"
    assert len(list(client.group_users(group["id"]))) == 5


def test_a_wrong_token_gets_okta_s_error_and_faults_are_retried(idp) -> None:
    base, token = idp
    refused = requests.get(f"{base}/{TENANT}/api/v1/groups", headers={"Authorization": "SSWS nope"}, timeout=10)
    assert refused.status_code == 401 and refused.json()["errorCode"] == "E0000011"
    requests.put(f"{base}/admin/faults", json={"error_rate": 0.5, "seed": 3}, timeout=10).raise_for_status()
    client = IdpClient.for_url(f"{base}/{TENANT}", token, page_size=2, sleep=lambda _s: None)
    assert len(list(client.users())) == 5, "a 503 page was not retried"
