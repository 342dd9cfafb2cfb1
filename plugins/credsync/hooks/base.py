"""CredsyncHttpHook: the provider's ``HttpHook`` plus what every credsync system needs from its Connection.

Connection (conn_type ``http``), read in one place for every hook:

- **Base URL**: ``host`` as a full URL (``https://lrs.example.com/data/xAPI/``: scheme, port and
  path kept) or a bare host (``hris.example.com``, a path after it allowed) with ``schema``
  (``http``/``https``, default http) and ``port``; a connection given as a URI
  (``AIRFLOW_CONN_X=http://host:8080/data/xAPI``) lands its path in ``schema``, which is read
  as the path then. Extra ``base_path`` is appended (``{tenant}`` is replaced by the hook's
  tenant); without any path the hook's default path applies (SCIM: ``/{tenant}/v2``).
- **Auth**: extra ``auth`` = ``bearer`` (``password`` is the token), ``basic`` (``login`` /
  ``password``), ``oauth2`` (client credentials: ``login`` = client id, ``password`` = secret,
  extras ``token_url`` (default ``/oauth/token`` below the base URL) and ``scope``) or ``none``;
  each hook has its system's default.
- **TLS and timeouts**: extras ``verify`` (false, or a CA bundle path; the provider's), ``ca_bundle``
  (a CA bundle path), ``cert``, ``timeout`` (read seconds) and ``connect_timeout``.
- **Retries**: extra ``retry`` overrides keys of the policy (:mod:`credsync.hooks.policy`).
- **Residency**: extra ``region`` is where the system keeps data; a tenant's hook refuses a region
  its policy does not allow (:mod:`credsync.governance.residency`).

Other extras stay the provider's: headers sent with every request. The extras listed here, a
hook's own (``own_extras``: the LRS sync's ``lookback_hours``...), any extra whose value is not
text (it cannot be a header) and any extra named like a secret (``webhook_secret``,
``notification_secret``, ``*_password``, ``*_token``, ``*_key``: the receivers' signing secrets sit on
the same Connections) are not sent.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow.providers.http.hooks.http import HttpHook
from requests import Session
from requests.auth import AuthBase, HTTPBasicAuth

from credsync.hooks.policy import RetryPolicy, Timeouts, http_settings, retry_policy_from, timeouts_from
from credsync.hooks.transport import BearerAuth, Endpoint, HttpClient, OAuth2ClientCredentials

#: Extras this layer reads; the provider would otherwise send them as request headers.
CREDSYNC_EXTRAS = frozenset({
    "auth", "base_path", "ca_bundle", "connect_timeout", "page_size", "region", "retry", "scope", "timeout",
    "token_refresh_margin_seconds", "token_url", "xapi_version",
    # the LRS statement sync (credsync.learning.lrs_sync.LrsSyncPolicy)
    "lookback_hours", "reconcile_every_days", "reconcile_window_days",
})
AUTH_KINDS = ("bearer", "basic", "oauth2", "none")
# An extra named like this (snake_case, as credsync's extras are) is a secret, whichever part of credsync reads
# it: never a request header, where a proxy or the other system's access log would keep it. A header meant to
# be sent (``X-Auth-Token``) is written the HTTP way, with hyphens, and still goes.
_SECRET_NAME = re.compile(r"^[a-z0-9_]*(secret|password|passwd|token|key)$")


class ConnectionConfigError(ValueError):
    """A Connection lacks a field its hook needs; the message names the connection and the field."""


def connection_base_url(conn: Any, *, tenant_id: str | None = None, default_path: str = "") -> str:
    """The base URL a Connection describes (rules: module docstring), without a trailing slash."""
    conn_id = getattr(conn, "conn_id", None)
    host = (conn.host or "").strip()
    if not host:
        raise ConnectionConfigError(f"connection {conn_id!r}: host is required")
    schema = (conn.schema or "").strip()
    if "://" in host:
        parts = urlsplit(host)
        scheme, netloc, paths = parts.scheme, parts.netloc, [parts.path]
    else:
        netloc, _, path = host.partition("/")
        if schema.lower() in ("http", "https"):
            scheme, paths = schema.lower(), [path]
        else:
            # A URI connection (http://host:8080/data/xAPI) puts its path in schema.
            conn_type = (getattr(conn, "conn_type", None) or "").lower()
            scheme, paths = (conn_type if conn_type in ("http", "https") else "http"), [path, schema]
    if not scheme or not netloc:
        raise ConnectionConfigError(f"connection {conn_id!r}: host {host!r} is not a URL or a host name")
    if conn.port:
        netloc = f"{netloc.rsplit(':', 1)[0] if _has_port(netloc) else netloc}:{conn.port}"
    extra = _extras(conn)
    if extra.get("base_path") is not None:
        paths.append(str(extra["base_path"]))
    elif not any(p.strip("/") for p in paths):
        paths.append(default_path)
    path = "/".join(segment.strip("/") for segment in paths if segment and segment.strip("/"))
    if tenant_id is not None:
        path = path.replace("{tenant}", tenant_id)
    return urlunsplit((scheme, netloc, f"/{path}" if path else "", "", "")).rstrip("/")


def _has_port(netloc: str) -> bool:
    tail = netloc.rsplit("]", 1)[-1]  # an IPv6 literal's colons are not a port
    return ":" in tail


def _extras(conn: Any) -> dict[str, Any]:
    extra = conn.extra_dejson if getattr(conn, "extra", None) else {}
    return extra if isinstance(extra, dict) else {}


class CredsyncHttpHook(HttpHook):
    """One outside system's Connection → :class:`Endpoint` → :class:`HttpClient` (one retry policy).

    Subclasses set ``default_auth``, ``default_base_path``, ``default_headers`` and
    ``service``; ``get_conn()`` is the provider's session (keep-alive adapter, proxies, verify,
    cert, header extras) with this hook's auth on it.
    """

    conn_name_attr = "http_conn_id"
    default_conn_name = "http_default"
    conn_type = "http"
    hook_name = "credsync HTTP"
    default_auth = "bearer"
    default_base_path = ""
    default_token_url = "/oauth/token"  # noqa: S105 - a path, not a secret
    default_scope: str | None = None
    service = "http"
    #: Extras a subclass reads for its system; like CREDSYNC_EXTRAS they are never sent as headers.
    own_extras: frozenset[str] = frozenset()

    def __init__(self, http_conn_id: str = default_conn_name, tenant_id: str | None = None, *,
                 method: str = "GET", policy: RetryPolicy | None = None, timeouts: Timeouts | None = None,
                 token_refresh_margin_seconds: float = 30.0, **kwargs: Any) -> None:
        super().__init__(method=method, http_conn_id=http_conn_id, **kwargs)
        self.tenant_id = tenant_id
        self._policy, self._timeouts = policy, timeouts
        self._token_margin = token_refresh_margin_seconds
        self._connection: Any = None

    # -- the Connection --------------------------------------------------------------

    @property
    def connection(self) -> Any:
        if self._connection is None:
            self._connection = self.get_connection(self.http_conn_id)
        return self._connection

    @property
    def extras(self) -> dict[str, Any]:
        return _extras(self.connection)

    def _where(self, key: str) -> str:
        return f"connection {self.http_conn_id!r} extra {key!r}"

    def _set_base_url(self, connection: Any) -> None:
        self.base_url = connection_base_url(connection, tenant_id=self.tenant_id,
                                            default_path=self.default_base_path)
        self._base_url_initialized = True

    def _configure_session_from_auth(self, session: Session, connection: Any) -> Session:
        auth = self.auth()
        session.auth = None if isinstance(auth, OAuth2ClientCredentials) else auth
        return session

    def _configure_session_from_extra(self, session: Session, connection: Any,
                                      extra_options: dict[str, Any]) -> Session:
        session = super()._configure_session_from_extra(session, connection, extra_options)
        for key, value in list(session.headers.items()):
            if (key in CREDSYNC_EXTRAS | self.own_extras or not isinstance(value, str | bytes)
                    or _SECRET_NAME.search(key)):
                del session.headers[key]
        if self.extras.get("ca_bundle"):
            session.verify = str(self.extras["ca_bundle"])
        return session

    # -- what the Connection says ----------------------------------------------------

    def auth(self) -> AuthBase | None:
        """The auth the connection asks for (extra ``auth``, else the hook's default)."""
        conn = self.connection
        kind = str(self.extras.get("auth") or self.default_auth).lower()
        if kind not in AUTH_KINDS:
            raise ConnectionConfigError(f"{self._where('auth')}: {kind!r} is not one of {', '.join(AUTH_KINDS)}")
        if kind == "none":
            return None
        if kind == "bearer":
            self._require(password=conn.password, field="password (the Bearer token)")
            return BearerAuth(conn.password)
        self._require(login=conn.login, password=conn.password,
                      field="login and password" + (" (client id and secret)" if kind == "oauth2" else ""))
        if kind == "basic":
            return HTTPBasicAuth(conn.login, conn.password)
        token_url = str(self.extras.get("token_url") or self.default_token_url)
        if "://" not in token_url:
            token_url = Endpoint(self._base()).url(token_url)
        margin = self.extras.get("token_refresh_margin_seconds", self._token_margin)
        return OAuth2ClientCredentials(token_url, conn.login, conn.password,
                                       scope=self.extras.get("scope", self.default_scope),
                                       refresh_margin_seconds=float(margin))

    def _require(self, *, field: str, **values: Any) -> None:
        if not all(values.values()):
            raise ConnectionConfigError(f"connection {self.http_conn_id!r}: {field} required")

    def _base(self) -> str:
        return connection_base_url(self.connection, tenant_id=self.tenant_id, default_path=self.default_base_path)

    def policy(self) -> RetryPolicy:
        return retry_policy_from(self.extras.get("retry"), self._where("retry"),
                                 base=self._policy or http_settings().retry)

    def timeouts(self) -> Timeouts:
        base = self._timeouts or http_settings().timeouts
        raw = {key: value for key, value in (("read_seconds", self.extras.get("timeout")),
                                              ("connect_seconds", self.extras.get("connect_timeout")))
               if value is not None}
        return timeouts_from(raw, self._where("timeout"), base=base)

    def endpoint(self, session: Session | None = None) -> Endpoint:
        """Base URL, auth, headers, TLS, timeouts and retry policy of this connection.

        For a tenant's hook, first the tenant's residency policy against the Connection's extra
        ``region`` (:mod:`credsync.governance.residency`): a destination it does not allow gets no client.
        """
        if self.tenant_id:
            from credsync.governance.residency import enforce

            enforce(self.tenant_id, self.http_conn_id, self.service, self.extras.get("region"))
        session = session or self.get_conn()
        return Endpoint(base_url=self.base_url, auth=self.auth(), headers=dict(session.headers),
                        timeouts=self.timeouts(), policy=self.policy(), verify=session.verify,
                        cert=session.cert, service=self.service)

    def test_connection(self) -> tuple[bool, str]:
        """The UI's "Test" button: one unretried GET of the base URL with this connection's auth.

        Any answer but 401/403 or a 5xx means the URL and credentials work (an API root may well
        answer 404); for OAuth2 the token request itself proves the client id and secret.
        """
        try:
            answer = self.http_client().call("GET", "", retry=False)
        except Exception as exc:
            return False, str(exc)
        if answer.status in (401, 403):
            return False, f"{self.base_url} refused the credentials: HTTP {answer.status}"
        return True, f"{self.base_url} answered HTTP {answer.status}"

    def http_client(self, **kwargs: Any) -> HttpClient:
        """An :class:`HttpClient` on the provider's session (``kwargs``: ``sleep``, ``rng``)."""
        session = self.get_conn()
        return HttpClient(self.endpoint(session), session=session, **kwargs)


__all__ = ["CREDSYNC_EXTRAS", "ConnectionConfigError", "CredsyncHttpHook", "connection_base_url"]
