"""RegistryHook: OAuth2 client credentials from its connection, against a real loopback token endpoint."""

from __future__ import annotations

import pytest

from credsync.hooks.registry import RegistryAccessDenied, RegistryHook
from tests.unit.hooks.loopback import serve, set_connection
from tests.unit.hooks.test_oauth2 import Issuer


def test_the_registry_hook_builds_oauth2_from_its_connection(monkeypatch):
    issuer = Issuer()
    with serve(issuer) as server:
        set_connection(monkeypatch, "registry_national", host=server.url, login="client-1", password="s3cret")
        client = RegistryHook().get_client()
        assert client.access_token() == "tok-1" == client.access_token()
        set_connection(monkeypatch, "registry_wrong", host=server.url, login="client-1", password="x")
        with pytest.raises(RegistryAccessDenied):
            RegistryHook("registry_wrong").get_client().access_token()
    assert "scope=certificates%3Aread+certificates%3Awrite" in issuer.token_requests[0].body.decode()
