"""IdpHook reads its Connection like every credsync hook (base URL, SSWS token, page size) and follows
Okta's Link header exactly as given (a real loopback server)."""

from __future__ import annotations

from credsync.hooks.idp import IdpHook, next_link
from tests.unit.hooks.loopback import Seen, serve, set_connection


def test_ssws_token_base_path_and_link_paging(monkeypatch) -> None:
    def answer(seen: Seen):
        if seen.query.get("after") == ["00g2"]:
            return 200, {}, [{"id": "00g3"}]
        nxt = f"{server.url}/acme/api/v1/groups?limit=2&after=00g2"
        return 200, {"Link": f'<{nxt}>; rel="next"'}, [{"id": "00g1"}, {"id": "00g2"}]

    with serve(answer) as server:
        set_connection(monkeypatch, "idp_acme", host=server.url, password="s3cret",
                       extra={"base_path": "/{tenant}", "page_size": 2})
        groups = [g["id"] for g in IdpHook("idp_acme", "acme").client().groups()]
    assert groups == ["00g1", "00g2", "00g3"]
    assert [(s.path, s.query) for s in server.seen] == [
        ("/acme/api/v1/groups", {"limit": ["2"]}), ("/acme/api/v1/groups", {"limit": ["2"], "after": ["00g2"]})]
    assert all(s.headers["Authorization"] == "SSWS s3cret" for s in server.seen)
    assert not {"page_size", "base_path"} & {k.lower() for k in server.seen[0].headers}


def test_bearer_when_the_connection_asks_and_repr_hides_the_token(monkeypatch) -> None:
    with serve([(200, {}, [])]) as server:
        set_connection(monkeypatch, "idp_acme", host=server.url, password="s3cret", extra={"auth": "bearer"})
        hook = IdpHook("idp_acme", "acme")
        assert list(hook.client().users()) == []
    assert server.seen[0].headers["Authorization"] == "Bearer s3cret"
    assert "s3cret" not in repr(hook.auth())


def test_next_link_ignores_self_and_missing_headers() -> None:
    assert next_link({"Link": '<https://x/api/v1/users?limit=2>; rel="self"'}) is None
    assert next_link({}) is None
