"""Reconciliation lists SCIM users where provisioning writes them: the connection's base_path extra."""

from __future__ import annotations

from credsync.hooks.scim import ScimHook
from credsync.recon import listings
from tests.unit.hooks.loopback import serve, set_connection


def test_the_scim_listing_honours_the_base_path_extra_like_provisioning(monkeypatch) -> None:
    user = {"id": "u1", "externalId": "E1", "userName": "e1", "active": True,
            "emails": [{"value": "e1@example.com", "primary": True}]}

    def scim(seen):
        if seen.path == "/scim/acme/v2/Users":
            return 200, {}, {"Resources": [user], "totalResults": 1}
        return 404, {}, {"detail": f"no SCIM root at {seen.path}"}

    with serve(scim) as server:
        set_connection(monkeypatch, "scim_acme", host=server.url, password="tok",
                       extra={"base_path": "/scim/{tenant}/v2"})
        listed = list(listings.scim_users(ScimHook("scim_acme", "acme").client()))
    assert [(u.scim_id, u.external_id, u.email) for u in listed] == [("u1", "E1", "e1@example.com")]
    assert {s.path for s in server.seen} == {"/scim/acme/v2/Users"}
