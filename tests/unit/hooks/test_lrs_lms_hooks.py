"""LrsHook and LmsHook over real loopback HTTP: the connection's whole endpoint, auth, version header."""

from __future__ import annotations

import base64

import pytest

from credsync.hooks.lms import LmsHook
from credsync.hooks.lrs import LrsHook
from credsync.hooks.transport import AccessDenied
from tests.unit.hooks.loopback import serve, set_connection

PAGE_1 = {"statements": [{"id": "s1", "stored": "2026-03-01T10:00:00.000Z"},
                         {"id": "s2", "stored": "2026-03-01T10:00:01.000Z"}],
          "more": "/data/xAPI/statements?more=cursor-2"}
PAGE_2 = {"statements": [{"id": "s2", "stored": "2026-03-01T10:00:01.000Z"},
                         {"id": "s3", "stored": "2026-03-01T10:00:05.000Z"}], "more": ""}


def lrs(seen):
    if seen.path != "/data/xAPI/statements":
        return 404, {}, {"detail": f"no xAPI endpoint at {seen.path}"}
    page = PAGE_2 if seen.query.get("more") == ["cursor-2"] else PAGE_1
    return 200, {"X-Experience-API-Consistent-Through": "2026-03-01T10:00:03.000Z"}, page


@pytest.mark.parametrize(("extra", "sent"), [({}, "1.0.3"), ({"xapi_version": "2.0"}, "2.0.0")])
def test_statements_come_from_the_connections_endpoint_path_with_basic_auth_and_version(monkeypatch, extra, sent):
    with serve(lrs) as server:
        set_connection(monkeypatch, "lrs_acme", host=f"{server.url}/data/xAPI/", login="key", password="secret",
                       extra=extra)
        pull = LrsHook("lrs_acme", "acme").pull_statements(since="2026-03-01T00:00:00.000000Z")
        ids = [s["id"] for s in pull]
    # s2 comes twice (both pages): the pull keeps no set of ids (its memory would grow with the
    # pull); staging drops the repeat in SQL and says so through note_repeated.
    assert ids == ["s1", "s2", "s2", "s3"] and pull.duplicates == 0 and pull.pages == 2
    pull.note_repeated(1)
    assert pull.duplicates == 1
    assert pull.watermark == "2026-03-01T10:00:03.000000Z"  # capped at Consistent-Through
    first, second = server.seen
    assert first.query["since"] == ["2026-03-01T00:00:00.000000Z"] and second.query == {"more": ["cursor-2"]}
    assert {s.headers["X-Experience-API-Version"] for s in server.seen} == {sent}
    assert first.headers["Authorization"] == "Basic " + base64.b64encode(b"key:secret").decode()


def test_the_tenant_path_of_the_demo_sandbox_comes_from_base_path_not_the_hook(monkeypatch):
    with serve(lambda seen: (200, {}, {"statements": [], "more": ""})) as server:
        set_connection(monkeypatch, "lrs_globex", host=server.url, login="k", password="s",
                       extra={"base_path": "/{tenant}/xAPI/"})
        list(LrsHook("lrs_globex", "globex").pull_statements(None))
        set_connection(monkeypatch, "lrs_plain", host=server.url, login="k", password="s")
        list(LrsHook("lrs_plain", "globex").pull_statements(None))
    assert [s.path for s in server.seen] == ["/globex/xAPI/statements", "/statements"]


def test_an_lrs_refusing_the_credentials_is_a_final_error_naming_the_url(monkeypatch):
    with serve([(401, {}, {"error": "bad key"})]) as server:
        set_connection(monkeypatch, "lrs_acme", host=f"{server.url}/xapi", login="k", password="wrong")
        with pytest.raises(AccessDenied, match=r"lrs GET .*/xapi/statements: HTTP 401") as err:
            list(LrsHook("lrs_acme", "acme").pull_statements(None))
    assert err.value.status == 401 and len(server.seen) == 1


def test_lms_completions_page_below_the_connections_path_with_bearer(monkeypatch):
    pages = [(200, {}, {"items": [{"id": "c1", "updated_at": "2026-03-01T10:00:00Z"}], "next_page_token": "t2"}),
             (200, {}, {"items": [{"id": "c2", "updated_at": "2026-03-02T10:00:00Z"}]})]
    with serve(pages) as server:
        set_connection(monkeypatch, "lms_acme", host=f"{server.url}/acme/lms/api/v1/", password="tok")
        export = LmsHook("lms_acme", "acme").export_completions("2026-02-01T00:00:00Z")
        assert [item["id"] for item in export] == ["c1", "c2"]
    assert export.watermark == "2026-03-02T10:00:00Z"
    assert [s.path for s in server.seen] == ["/acme/lms/api/v1/completions"] * 2
    assert server.seen[1].query["page_token"] == ["t2"]
    assert {s.headers["Authorization"] for s in server.seen} == {"Bearer tok"}
