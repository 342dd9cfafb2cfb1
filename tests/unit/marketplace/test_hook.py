"""The marketplace hook's thin layer on a scripted loopback server: scopes per flow from the Connection,
refresh-token rotation and its fallback, signed events, idempotency keys, secrets never sent as headers."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from credsync.hooks.base import ConnectionConfigError
from credsync.hooks.marketplace import FLOW_SCOPES, MarketplaceClient, MarketplaceHook, fingerprint
from credsync.hooks.policy import RetryPolicy
from tests.unit.hooks.loopback import Seen, serve, set_connection

FAST = RetryPolicy(initial_seconds=0.0, max_seconds=0.0, max_attempts=4)


class Marketplace:
    """Token endpoint with rotation and reuse detection, events and members, as the contract says."""

    def __init__(self) -> None:
        self.n = 0
        self.live_refresh: set[str] = set()
        self.spent: set[str] = set()
        self.access: set[str] = set()

    def __call__(self, seen: Seen):
        if seen.path == "/oauth/token":
            form = dict(p.split("=", 1) for p in seen.body.decode().split("&"))
            if form["grant_type"] == "refresh_token":
                if form["refresh_token"] not in self.live_refresh:
                    return 400, {}, {"error": "invalid_grant", "code": "invalid_grant"}
                self.live_refresh.discard(form["refresh_token"])
                self.spent.add(form["refresh_token"])
            self.n += 1
            access, refresh = f"at{self.n}", f"rt{self.n}"
            self.access.add(access)
            self.live_refresh.add(refresh)
            return 200, {}, {"access_token": access, "token_type": "Bearer", "expires_in": 300,
                             "refresh_token": refresh, "scope": form.get("scope", "")}
        if seen.path == "/oauth/revoke":
            return 200, {}, {}
        token = seen.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.access:
            return 401, {}, {"code": "invalid_token", "status": 401}
        if seen.path == "/v1/events":
            return 202, {}, {"status": "accepted"}
        return 200, {}, {"ok": True}


def client(url: str, scope: str = "write:learning write:badge") -> MarketplaceClient:
    return MarketplaceClient.for_url(url, "mkt-acme", "s3cret", scope=scope, signing_secret="sign-key", policy=FAST)


def test_an_expired_token_is_renewed_with_the_refresh_token_and_the_old_one_is_spent():
    market = Marketplace()
    with serve(market) as server:
        c = client(server.url)
        c.put_member({"member_id": "E1"}, "key-1")
        c.auth._expires_at = 0  # the access token expired
        c.put_member({"member_id": "E1"}, "key-1")
        grants = [s.body.decode().split("&")[0] for s in server.seen if s.path == "/oauth/token"]
        assert grants == ["grant_type=client_credentials", "grant_type=refresh_token"]
        assert "rt1" in market.spent
        assert [e.kind for e in c.auth.drain()] == ["issued", "refreshed"]


def test_a_refused_refresh_falls_back_to_the_client_credentials():
    market = Marketplace()
    with serve(market) as server:
        c = client(server.url)
        c.put_member({"member_id": "E1"}, "key-1")
        market.live_refresh.clear()  # the family was revoked
        c.auth._expires_at = 0
        c.put_member({"member_id": "E1"}, "key-1")
        assert [e.kind for e in c.auth.drain()] == ["issued", "refresh_refused", "issued"]


def test_a_revoked_access_token_is_requested_again_once():
    market = Marketplace()
    with serve(market) as server:
        c = client(server.url)
        c.put_member({"member_id": "E1"}, "key-1")
        market.access.clear()  # invalid_token from now on, for the token held
        outcome = c.put_member({"member_id": "E1"}, "key-1")
        assert outcome.status == 200
        assert [s.headers["Idempotency-Key"] for s in server.seen if s.path.startswith("/v1/")] == ["key-1"] * 3


def test_events_are_signed_over_timestamp_and_raw_body():
    with serve(Marketplace()) as server:
        c = client(server.url)
        c.clock = lambda: 1_760_000_000
        event = {"event_id": "0b7c", "type": "learning_completed", "member_id": "E1", "data": {}}
        assert c.post_event(event).status == 202
        sent = next(s for s in server.seen if s.path == "/v1/events")
        expected = hmac.new(b"sign-key", b"1760000000." + sent.body, hashlib.sha256).hexdigest()
        assert sent.headers["X-Marketplace-Timestamp"] == "1760000000"
        assert sent.headers["X-Marketplace-Signature"] == f"v1={expected}"
        assert sent.headers["Idempotency-Key"] == "0b7c"
        assert json.loads(sent.body) == event


def test_token_events_carry_a_fingerprint_never_the_token():
    with serve(Marketplace()) as server:
        c = client(server.url)
        c.put_member({"member_id": "E1"}, "k")
        assert c.revoke_tokens() == 2
        events = c.auth.drain()
        assert [e.kind for e in events] == ["issued", "revoked", "revoked"]
        assert events[0].fingerprint == fingerprint("at1") and "at1" not in repr(events)


def test_each_flow_asks_for_its_own_scopes_and_no_secret_goes_as_a_header(monkeypatch):
    with serve(Marketplace()) as server:
        set_connection(monkeypatch, "marketplace_acme", host=server.url, login="mkt-acme", password="s3cret",
                       extra={"signing_secret": "sign-key", "scopes": {"reconcile": "read:members"}})
        hook = MarketplaceHook("marketplace_acme")
        hook.client("events").post_event({"event_id": "e1", "type": "badge_awarded", "member_id": "E1", "data": {}})
        list(hook.client("reconcile").members())
        scopes = [s.body.decode() for s in server.seen if s.path == "/oauth/token"]
        assert "scope=write%3Alearning+write%3Abadge" in scopes[0] and "scope=read%3Amembers" in scopes[1]
        assert all("sign-key" not in json.dumps(s.headers) for s in server.seen)
    assert hook.flow_scope("bulk") == FLOW_SCOPES["bulk"]


def test_events_need_a_signing_secret(monkeypatch):
    set_connection(monkeypatch, "marketplace_x", host="http://127.0.0.1:9", login="a", password="b")
    with pytest.raises(ConnectionConfigError, match="signing_secret"):
        MarketplaceHook("marketplace_x").client("events")
