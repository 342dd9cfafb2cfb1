"""OAuth2 client credentials through the layer, against a real loopback token endpoint and API."""

from __future__ import annotations

import base64
import itertools
import time

import pytest

from credsync.hooks.policy import RetryPolicy
from credsync.hooks.transport import (
    AccessDenied,
    Endpoint,
    HttpClient,
    OAuth2ClientCredentials,
    ServiceUnavailable,
)
from tests.unit.hooks.loopback import Seen, serve


class Issuer:
    """Issues numbered tokens that live ``ttl`` seconds; ``forget()`` revokes all of them."""

    def __init__(self, ttl: float = 60) -> None:
        self.ttl, self.numbers, self.valid = ttl, itertools.count(1), set()
        self.token_requests: list[Seen] = []

    def forget(self) -> None:
        self.valid.clear()

    def __call__(self, seen: Seen):
        if seen.path == "/oauth/token":
            self.token_requests.append(seen)
            expected = "Basic " + base64.b64encode(b"client-1:s3cret").decode()
            if seen.headers.get("Authorization") != expected:
                return 401, {}, {"error": "invalid_client"}
            token = f"tok-{next(self.numbers)}"
            self.valid.add(token)
            return 200, {}, {"access_token": token, "token_type": "Bearer", "expires_in": self.ttl}
        token = seen.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.valid:
            return 401, {}, {"error": "invalid_token"}
        return 200, {}, {"token": token}


def oauth_client(url: str, secret: str = "s3cret", margin: float = 30) -> HttpClient:  # noqa: S107 - test value
    auth = OAuth2ClientCredentials(f"{url}/oauth/token", "client-1", secret, scope="read",
                                   refresh_margin_seconds=margin)
    return HttpClient(Endpoint(url, auth=auth, service="registry"))


def test_the_token_is_fetched_once_and_shared_by_later_calls():
    issuer = Issuer()
    with serve(issuer) as server:
        client = oauth_client(server.url)
        bodies = [client.request("GET", "/v1/x").json() for _ in range(3)]
    assert [b["token"] for b in bodies] == ["tok-1"] * 3
    assert len(issuer.token_requests) == 1
    form = issuer.token_requests[0].body.decode()
    assert "grant_type=client_credentials" in form and "scope=read" in form


def test_the_token_is_refreshed_before_it_expires():
    issuer = Issuer(ttl=1.0)
    with serve(issuer) as server:
        client = oauth_client(server.url, margin=0.4)  # refresh 0.4 s before the 1 s lifetime ends
        first = client.request("GET", "/v1/x").json()["token"]
        time.sleep(0.7)
        second = client.request("GET", "/v1/x").json()["token"]
    assert (first, second) == ("tok-1", "tok-2")


def test_a_401_fetches_one_fresh_token_and_sends_again_once():
    issuer = Issuer()
    with serve(issuer) as server:
        client = oauth_client(server.url)
        client.request("GET", "/v1/x")
        issuer.forget()  # the server dropped every token it issued
        answer = client.request("GET", "/v1/x")
    assert answer.json() == {"token": "tok-2"}
    assert [a.status for a in answer.attempts] == [401, 200]


def test_a_second_401_is_final():
    with serve(lambda seen: (200, {}, {"access_token": "t", "expires_in": 60}) if seen.path == "/oauth/token"
               else (401, {}, {"error": "invalid_token"})) as server, \
            pytest.raises(AccessDenied, match=r"HTTP 401") as err:
        oauth_client(server.url).request("GET", "/v1/x")
    assert [a.status for a in err.value.attempts] == [401, 401]
    assert [s.path for s in server.seen].count("/oauth/token") == 2


def test_a_wrong_secret_is_access_denied_naming_the_client():
    with serve(Issuer()) as server, pytest.raises(AccessDenied, match=r"token request for client 'client-1'"):
        oauth_client(server.url, secret="nope").request("GET", "/v1/x")


def test_a_token_endpoint_that_stays_down_is_unavailable_not_denied():
    with serve([(503, {}, None)]) as server:
        auth = OAuth2ClientCredentials(f"{server.url}/oauth/token", "client-1", "s3cret")
        policy = RetryPolicy(initial_seconds=0.01, max_seconds=0.01, max_attempts=2)
        with pytest.raises(ServiceUnavailable, match=r"POST .*/oauth/token: gave up after 2 attempts"):
            HttpClient(Endpoint(server.url, auth=auth, policy=policy)).request("GET", "/v1/x")
