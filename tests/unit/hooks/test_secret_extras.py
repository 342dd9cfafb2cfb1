"""No extra named like a secret travels as a request header, whichever hook sends (real loopback server).

The receivers' signing secrets (``webhook_secret`` of ``hris_<tenant>`` and ``lms_<tenant>``) sit on the
same Connections the hooks call out with; the provider would send every extra as a header.
"""

from __future__ import annotations

from credsync.hooks.hris import HrisHook
from tests.unit.hooks.loopback import serve, set_connection

SECRETS = {"webhook_secret": "hook-secret-1", "signing_key": "key-2", "client_secret": "cs-3"}


def test_secret_named_extras_are_never_headers_but_a_real_header_extra_still_goes(monkeypatch):
    with serve([(200, {}, {"as_of": "2026-03-01T00:00:00Z", "data": [], "next_cursor": None})]) as server:
        set_connection(monkeypatch, "hris_acme", host=server.url, password="tok",
                       extra={**SECRETS, "X-Auth-Token": "meant-as-a-header"})
        list(HrisHook("hris_acme", "acme").export(None))
    assert server.seen, "the export made no request"
    for seen in server.seen:
        wire = " ".join(f"{k}: {v}" for k, v in seen.headers.items())
        for name, value in SECRETS.items():
            assert value not in wire, f"extra {name} was sent as a header to {seen.path}"
        assert seen.headers.get("X-Auth-Token") == "meant-as-a-header"
