"""Connection → base URL, auth, TLS, timeouts and retry policy: the one place every hook reads them.

Connections come from ``AIRFLOW_CONN_<ID>`` JSON, as a deployment's secrets backend would hand them.
"""

from __future__ import annotations

import pytest
from requests.auth import HTTPBasicAuth

from credsync.hooks.base import ConnectionConfigError, CredsyncHttpHook
from credsync.hooks.hris import HrisHook
from credsync.hooks.lms import LmsHook
from credsync.hooks.lrs import LrsHook
from credsync.hooks.policy import PolicyError, RetryPolicy
from credsync.hooks.registry import RegistryHook
from credsync.hooks.scim import ScimHook
from credsync.hooks.transport import BearerAuth, OAuth2ClientCredentials
from tests.unit.hooks.loopback import serve, set_connection


def base_url(monkeypatch, hook_class=CredsyncHttpHook, tenant="acme", **fields) -> str:
    set_connection(monkeypatch, "edge", password="t", login="k", **fields)
    return hook_class("edge", tenant).endpoint().base_url


def test_a_full_url_in_host_is_kept_not_prefixed_with_the_schema(monkeypatch):
    # The bug: HrisHook built http://https://hris.example.com from the same hris_<tenant> connection.
    assert base_url(monkeypatch, HrisHook, host="https://hris.example.com") == "https://hris.example.com"
    assert base_url(monkeypatch, HrisHook, host="https://hris.example.com", schema="http") == \
        "https://hris.example.com"


@pytest.mark.parametrize(("fields", "expected"), [
    ({"host": "hris.example.com"}, "http://hris.example.com"),
    ({"host": "hris.example.com", "schema": "https"}, "https://hris.example.com"),
    ({"host": "hris.example.com", "schema": "HTTPS", "port": 8443}, "https://hris.example.com:8443"),
    ({"host": "https://hris.example.com", "port": 8443}, "https://hris.example.com:8443"),
    ({"host": "https://hris.example.com:9000/", "port": 8443}, "https://hris.example.com:8443"),
    ({"host": "https://hris.example.com/hr/api/", "port": 8443}, "https://hris.example.com:8443/hr/api"),
    ({"host": "hris.example.com/hr", "schema": "https"}, "https://hris.example.com/hr"),
    ({"host": "http://[::1]:8080/x"}, "http://[::1]:8080/x"),
    ({"host": "[::1]", "port": 8080}, "http://[::1]:8080"),
])
def test_schema_host_port_and_path(monkeypatch, fields, expected):
    assert base_url(monkeypatch, **fields) == expected


def test_a_uri_connection_puts_its_path_in_schema_and_it_is_read_as_the_path(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_URI_FORM", "https://k:s@lrs.example.com:8443/data/xAPI")
    hook = LrsHook("uri_form", "acme")
    assert hook.endpoint().base_url == "https://lrs.example.com:8443/data/xAPI"


def test_lrs_takes_any_path_from_the_connection_and_adds_no_tenant_path(monkeypatch):
    assert base_url(monkeypatch, LrsHook, host="https://lrs.example.com/data/xAPI/") == \
        "https://lrs.example.com/data/xAPI"
    endpoint = LrsHook("edge", "acme").endpoint()
    assert endpoint.url("statements") == "https://lrs.example.com/data/xAPI/statements"


def test_base_path_extra_is_appended_with_the_tenant_and_trailing_slashes_are_folded(monkeypatch):
    assert base_url(monkeypatch, host="https://h.example/", extra={"base_path": "/{tenant}/xAPI/"}) == \
        "https://h.example/acme/xAPI"
    assert base_url(monkeypatch, host="https://h.example/proxy//", extra={"base_path": "scim/v2"}) == \
        "https://h.example/proxy/scim/v2"


def test_scim_default_path_applies_only_when_the_connection_gives_none(monkeypatch):
    assert base_url(monkeypatch, ScimHook, host="127.0.0.1", port=18702) == "http://127.0.0.1:18702/acme/v2"
    assert base_url(monkeypatch, ScimHook, host="https://lms.example.com/scim/v2") == \
        "https://lms.example.com/scim/v2"
    assert base_url(monkeypatch, ScimHook, host="lms.example.com", extra={"base_path": "/t/{tenant}/scim"}) == \
        "http://lms.example.com/t/acme/scim"


def test_missing_host_names_the_connection(monkeypatch):
    set_connection(monkeypatch, "nohost", password="t")
    with pytest.raises(ConnectionConfigError, match=r"connection 'nohost': host is required"):
        HrisHook("nohost", "acme").endpoint()


def test_bearer_basic_and_oauth2_come_from_login_password_and_the_auth_extra(monkeypatch):
    set_connection(monkeypatch, "a", host="h", login="key", password="secret-value")
    assert isinstance(HrisHook("a", "acme").auth(), BearerAuth)
    assert isinstance(LmsHook("a", "acme").auth(), BearerAuth)
    basic = LrsHook("a", "acme").auth()
    assert isinstance(basic, HTTPBasicAuth) and (basic.username, basic.password) == ("key", "secret-value")
    oauth = RegistryHook("a").auth()
    assert isinstance(oauth, OAuth2ClientCredentials)
    assert oauth.token_url == "http://h/oauth/token" and oauth.client_id == "key"
    assert "secret-value" not in repr(oauth) and "secret-value" not in repr(HrisHook("a", "acme").endpoint())

    set_connection(monkeypatch, "b", host="https://idp.example/api", login="key", password="secret-value",
                   extra={"auth": "oauth2", "token_url": "https://idp.example/token", "scope": "read"})
    oauth = HrisHook("b", "acme").auth()
    assert isinstance(oauth, OAuth2ClientCredentials) and oauth.token_url == "https://idp.example/token"
    assert oauth.scope == "read"
    set_connection(monkeypatch, "c", host="h", login="key", password="s", extra={"auth": "basic"})
    assert isinstance(HrisHook("c", "acme").auth(), HTTPBasicAuth)


@pytest.mark.parametrize(("hook", "fields", "message"), [
    (HrisHook, {"host": "h"}, r"connection 'x': password \(the Bearer token\) required"),
    (LrsHook, {"host": "h", "password": "s"}, r"connection 'x': login and password required"),
    (RegistryHook, {"host": "h", "login": "id"}, r"login and password \(client id and secret\) required"),
    (HrisHook, {"host": "h", "password": "s", "extra": {"auth": "digest"}}, r"extra 'auth': 'digest'"),
])
def test_missing_credentials_name_the_connection_and_field(monkeypatch, hook, fields, message):
    set_connection(monkeypatch, "x", **fields)
    with pytest.raises(ConnectionConfigError, match=message):
        (hook("x", "acme") if hook is not RegistryHook else hook("x")).auth()


def test_credsync_extras_are_not_sent_as_headers_other_extras_are(monkeypatch):
    set_connection(monkeypatch, "h", host="h", login="k", password="t", extra={
        "base_path": "/x", "xapi_version": "2.0", "retry": {"max_attempts": 2}, "timeout": 12,
        "X-Api-Key-Id": "abc"})
    session = LrsHook("h", "acme").get_conn()
    assert session.headers["X-Api-Key-Id"] == "abc"
    assert not {"base_path", "xapi_version", "retry", "timeout"} & set(session.headers)


def test_a_hooks_own_extras_and_non_text_extras_are_not_headers(monkeypatch):
    # requests refuses a header whose value is a number: such an extra would fail every call.
    with serve([(200, {}, {"statements": [], "more": ""})]) as server:
        set_connection(monkeypatch, "h", host=server.url, login="k", password="t", extra={
            "lookback_hours": "48", "reconcile_window_days": 120, "some_flag": True, "X-Tenant": "acme"})
        list(LrsHook("h", "acme").pull_statements(None))
    headers = server.seen[0].headers
    assert headers["X-Tenant"] == "acme"
    assert not {"lookback_hours", "reconcile_window_days", "some_flag"} & {k.lower() for k in headers}


def test_tls_timeouts_and_retry_overrides_come_from_extras(monkeypatch, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    set_connection(monkeypatch, "tls", host="https://h", password="t", extra={
        "ca_bundle": str(bundle), "timeout": 12, "connect_timeout": 2,
        "retry": {"max_attempts": 3, "max_retry_after_seconds": 10}})
    endpoint = HrisHook("tls", "acme").endpoint()
    assert endpoint.verify == str(bundle)
    assert endpoint.timeouts.as_requests() == (2.0, 12.0)
    assert endpoint.policy == RetryPolicy(max_attempts=3, max_retry_after_seconds=10)
    set_connection(monkeypatch, "noverify", host="https://h", password="t", extra={"verify": False})
    assert HrisHook("noverify", "acme").endpoint().verify is False


def test_an_invalid_retry_extra_names_the_connection_and_key(monkeypatch):
    set_connection(monkeypatch, "bad", host="h", password="t", extra={"retry": {"max_attempts": 0}})
    with pytest.raises(PolicyError, match=r"connection 'bad' extra 'retry'\.max_attempts must be positive"):
        HrisHook("bad", "acme").endpoint()
    set_connection(monkeypatch, "bad", host="h", password="t", extra={"retry": {"max_attemps": 3}})
    with pytest.raises(PolicyError, match=r"unknown key\(s\) max_attemps"):
        HrisHook("bad", "acme").endpoint()


@pytest.mark.parametrize(("asked", "sent"), [(None, "1.0.3"), ("1.0.3", "1.0.3"), ("2.0", "2.0.0"),
                                             ("2.0.0", "2.0.0")])
def test_lrs_xapi_version_from_the_extra(monkeypatch, asked, sent):
    set_connection(monkeypatch, "lrs", host="h", login="k", password="s",
                   extra={"xapi_version": asked} if asked else {})
    assert LrsHook("lrs", "acme").xapi_version() == sent
    assert LrsHook("lrs", "acme", xapi_version="2.0").xapi_version() == "2.0.0"


def test_an_unknown_xapi_version_is_refused(monkeypatch):
    set_connection(monkeypatch, "lrs", host="h", login="k", password="s", extra={"xapi_version": "0.95"})
    with pytest.raises(ConnectionConfigError, match=r"'0\.95' is not one of"):
        LrsHook("lrs", "acme").xapi_version()


def test_the_ui_test_button_checks_url_and_credentials_without_retrying(monkeypatch):
    def api(seen):
        ok = seen.headers.get("Authorization") == "Bearer good"
        return (404, {}, {"detail": "no root resource"}) if ok else (401, {}, {"detail": "bad token"})

    with serve(api) as server:
        set_connection(monkeypatch, "good", host=server.url + "/api", password="good")
        set_connection(monkeypatch, "bad", host=server.url + "/api", password="nope")
        assert HrisHook("good", "acme").test_connection() == (True, f"{server.url}/api answered HTTP 404")
        ok, message = HrisHook("bad", "acme").test_connection()
    assert not ok and "refused the credentials: HTTP 401" in message
    assert [s.path for s in server.seen] == ["/api", "/api"]
    set_connection(monkeypatch, "down", host="http://127.0.0.1:9", password="t")
    ok, message = HrisHook("down", "acme").test_connection()
    assert not ok and "sent once" in message
