"""HrisHook over real loopback HTTP: the connection's base URL, Bearer token and retry extra."""

from __future__ import annotations

import pytest

from credsync.hooks.hris import HrisHook
from credsync.hooks.transport import ServiceUnavailable
from tests.unit.hooks.loopback import serve, set_connection


def test_the_export_uses_the_connection_retry_extra_and_bearer_token(monkeypatch):
    with serve([(503, {}, None)]) as server:
        set_connection(monkeypatch, "hris_acme", host=server.url, password="tok",
                       extra={"retry": {"max_attempts": 2, "initial_seconds": 0.01, "max_seconds": 0.01}})
        with pytest.raises(ServiceUnavailable, match=r"hris GET .*/api/v1/tenants/acme/workers"):
            list(HrisHook("hris_acme", "acme").export(None))
    assert len(server.seen) == 2
    assert server.seen[0].headers["Authorization"] == "Bearer tok"
