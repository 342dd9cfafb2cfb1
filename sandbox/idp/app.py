"""IdP sandbox: an Okta-like Groups API per tenant (groups, their users, role claims), with faults.

Run: ``python -m uvicorn sandbox.idp.app:create_app --factory --port 18705``.

Each tenant is one Okta org under ``/{tenant}``:

- ``GET /{tenant}/api/v1/groups`` — groups (``id`` ``00g...``, ``type`` ``OKTA_GROUP``,
  ``profile.name`` / ``profile.description``);
- ``GET /{tenant}/api/v1/groups/{id}/users`` — a group's users (``id`` ``00u...``, ``status``,
  ``profile.login`` / ``email`` / ``firstName`` / ``lastName`` / ``employeeNumber``);
- ``GET /{tenant}/api/v1/users`` — every user, with the role claims in ``profile.roles`` (a custom
  profile attribute, as an Okta admin would add one for an app's role claim).

Paging is Okta's: ``limit`` (default and maximum 200) and an opaque ``after`` cursor, the next
page announced only in the ``Link`` header (``<...>; rel="next"``, beside ``rel="self"``); the
body is a bare JSON array. Auth: ``Authorization: SSWS <token>`` or ``Bearer <token>``, one token
per tenant (``SANDBOX_IDP_TOKENS`` = ``{tenant: token}``); a wrong one answers Okta's 401 error
body (``errorCode`` ``E0000011``).

Admin (loopback, no auth): ``PUT /admin/tenants/{tenant}/directory`` replaces a tenant's users,
role claims and group memberships (``{"users": [{"employeeNumber", "login", "status", "roles",
"groups"}]}``); ``PUT`` / ``DELETE /admin/tenants/{tenant}/groups/{name}/members/{employeeNumber}``
change one membership; ``GET /admin/tenants/{tenant}/stats`` counts requests; ``POST /admin/reset``.
State lives in ``<SANDBOX_DATA_DIR>/idp/directory.json``. Faults: ``sandbox/faults.py`` (name ``idp``).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.faults import FaultInjector

MAX_LIMIT = 200
CREATED = "2025-01-06T08:00:00.000Z"


def okta_id(prefix: str, *parts: str) -> str:
    """A stable 20-character Okta-style id (``00u``/``00g`` + 17)."""
    return prefix + hashlib.sha256("/".join(parts).encode()).hexdigest()[:17]


class Directory:
    """Every tenant's users and groups, kept in a JSON file (rewritten whole on each admin write)."""

    def __init__(self, path: Path, tenants: list[str]) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.tenants: dict[str, dict[str, Any]] = {t: {"users": {}, "groups": {}} for t in tenants}
        if path.is_file():
            stored = json.loads(path.read_text(encoding="utf-8"))
            self.tenants.update({t: v for t, v in stored.items() if t in self.tenants})

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.tenants), encoding="utf-8")
        tmp.replace(self.path)

    def replace(self, tenant: str, users: list[dict[str, Any]]) -> dict[str, int]:
        with self._lock:
            state: dict[str, Any] = {"users": {}, "groups": {}}
            for entry in users:
                # A user without employeeNumber is allowed (real directories have them: service
                # accounts, contractors from a vendor's IdP); it is keyed by its login instead.
                employee = str(entry.get("employeeNumber") or "") or None
                login = str(entry.get("login") or f"{(employee or 'user').lower()}@{tenant}.example")
                user_id = okta_id("00u", tenant, employee or f"login:{login}")
                profile = {"login": login, "email": login, "firstName": entry.get("firstName") or employee or login,
                           "lastName": entry.get("lastName") or tenant,
                           "roles": [str(r) for r in entry.get("roles") or []]}
                if employee:
                    profile["employeeNumber"] = employee
                state["users"][user_id] = {"id": user_id, "status": str(entry.get("status") or "ACTIVE"),
                                           "profile": profile}
                for name in entry.get("groups") or []:
                    self._group(state, tenant, str(name))["members"].append(user_id)
            self.tenants[tenant] = state
            self.save()
            return {"users": len(state["users"]), "groups": len(state["groups"])}

    def set_member(self, tenant: str, name: str, employee: str, *, member: bool) -> dict[str, Any]:
        with self._lock:
            state = self.tenants[tenant]
            user_id = okta_id("00u", tenant, employee)
            if user_id not in state["users"]:
                raise KeyError(f"tenant {tenant}: no user with employeeNumber {employee!r}")
            group = self._group(state, tenant, name)
            if member and user_id not in group["members"]:
                group["members"].append(user_id)
            if not member and user_id in group["members"]:
                group["members"].remove(user_id)
            self.save()
            return {"group": group["id"], "members": len(group["members"])}

    @staticmethod
    def _group(state: dict[str, Any], tenant: str, name: str) -> dict[str, Any]:
        group_id = okta_id("00g", tenant, name)
        return state["groups"].setdefault(group_id, {"id": group_id, "name": name, "members": []})

    def reset(self) -> None:
        with self._lock:
            self.tenants = {t: {"users": {}, "groups": {}} for t in self.tenants}
            self.save()


def group_resource(group: dict[str, Any]) -> dict[str, Any]:
    return {"id": group["id"], "created": CREATED, "lastUpdated": CREATED, "lastMembershipUpdated": CREATED,
            "objectClass": ["okta:user_group"], "type": "OKTA_GROUP",
            "profile": {"name": group["name"], "description": f"{group['name']} (IdP sandbox)"}}


def user_resource(user: dict[str, Any]) -> dict[str, Any]:
    return {**user, "created": CREATED, "activated": CREATED, "lastUpdated": CREATED, "type": {"id": "oty_default"}}


class IdpSandbox:
    def __init__(self, tokens: dict[str, str], data_dir: Path) -> None:
        self.tokens = tokens
        self.directory = Directory(data_dir / "idp" / "directory.json", list(tokens))
        self.requests: dict[str, Counter[str]] = {t: Counter() for t in tokens}
        self.app = Starlette(routes=[
            Route("/health", self.health),
            Route("/admin/reset", self.reset, methods=["POST"]),
            Route("/admin/tenants/{tenant}/directory", self.put_directory, methods=["PUT"]),
            Route("/admin/tenants/{tenant}/groups/{name}/members/{employee}", self.member, methods=["PUT", "DELETE"]),
            Route("/admin/tenants/{tenant}/stats", self.stats),
            Route("/{tenant}/api/v1/groups", self.list_groups),
            Route("/{tenant}/api/v1/groups/{group_id}/users", self.list_group_users),
            Route("/{tenant}/api/v1/users", self.list_users),
        ])

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "tenants": list(self.tokens)})

    async def reset(self, request: Request) -> JSONResponse:
        self.directory.reset()
        for counter in self.requests.values():
            counter.clear()
        return JSONResponse({"status": "reset"})

    async def put_directory(self, request: Request) -> JSONResponse:
        tenant = request.path_params["tenant"]
        if tenant not in self.tokens:
            return JSONResponse({"error": f"unknown tenant {tenant!r}"}, status_code=404)
        body = await request.json()
        return JSONResponse(self.directory.replace(tenant, list(body.get("users") or [])))

    async def member(self, request: Request) -> JSONResponse:
        p = request.path_params
        if p["tenant"] not in self.tokens:
            return JSONResponse({"error": f"unknown tenant {p['tenant']!r}"}, status_code=404)
        try:
            result = self.directory.set_member(p["tenant"], p["name"], p["employee"], member=request.method == "PUT")
        except KeyError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse(result)

    async def stats(self, request: Request) -> JSONResponse:
        tenant = request.path_params["tenant"]
        return JSONResponse({"tenant": tenant, "requests": dict(self.requests.get(tenant) or {})})

    # -- the Okta-like API ------------------------------------------------------------

    def _authorised(self, request: Request) -> tuple[str, Response | None]:
        tenant = request.path_params["tenant"]
        if tenant not in self.tokens:
            return tenant, _okta_error(404, "E0000007", f"Not found: Resource not found: {tenant} (Org)")
        self.requests[tenant][request.url.path.rsplit("/", 1)[-1]] += 1
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() not in ("ssws", "bearer") or token != self.tokens[tenant]:
            return tenant, _okta_error(401, "E0000011", "Invalid token provided")
        return tenant, None

    async def list_groups(self, request: Request) -> Response:
        tenant, refused = self._authorised(request)
        if refused:
            return refused
        groups = [group_resource(g) for g in self.directory.tenants[tenant]["groups"].values()]
        return _page(request, groups)

    async def list_group_users(self, request: Request) -> Response:
        tenant, refused = self._authorised(request)
        if refused:
            return refused
        state = self.directory.tenants[tenant]
        group = state["groups"].get(request.path_params["group_id"])
        if group is None:
            return _okta_error(404, "E0000007", f"Not found: Resource not found: {request.path_params['group_id']} "
                                                "(UserGroup)")
        return _page(request, [user_resource(state["users"][u]) for u in group["members"] if u in state["users"]])

    async def list_users(self, request: Request) -> Response:
        tenant, refused = self._authorised(request)
        if refused:
            return refused
        return _page(request, [user_resource(u) for u in self.directory.tenants[tenant]["users"].values()])


def _page(request: Request, items: list[dict[str, Any]]) -> Response:
    """One page in id order after the ``after`` cursor; the next page only in the Link header."""
    try:
        limit = min(MAX_LIMIT, max(1, int(request.query_params.get("limit") or MAX_LIMIT)))
    except ValueError:
        return _okta_error(400, "E0000001", "Api validation failed: limit")
    after = request.query_params.get("after")
    items = sorted(items, key=lambda item: item["id"])
    if after:
        items = [item for item in items if item["id"] > after]
    page, more = items[:limit], len(items) > limit
    base = str(request.url.replace(query=""))
    links = [f'<{base}?{urlencode({"limit": limit, **({"after": after} if after else {})})}>; rel="self"']
    if more:
        links.append(f'<{base}?{urlencode({"limit": limit, "after": page[-1]["id"]})}>; rel="next"')
    return JSONResponse(page, headers={"Link": ", ".join(links)})


def _okta_error(status: int, code: str, summary: str) -> JSONResponse:
    return JSONResponse({"errorCode": code, "errorSummary": summary, "errorLink": code,
                         "errorId": "oae" + hashlib.sha256(summary.encode()).hexdigest()[:19], "errorCauses": []},
                        status_code=status)


def create_app() -> FaultInjector:
    """uvicorn factory: the IdP sandbox from the environment, with faults (``SANDBOX_FAULTS_IDP``)."""
    raw = os.environ.get("SANDBOX_IDP_TOKENS")
    if not raw:
        raise RuntimeError("SANDBOX_IDP_TOKENS is not set: the IdP sandbox refuses to serve without tokens")
    tokens = {str(t): str(v) for t, v in json.loads(raw).items()}
    data_dir = Path(os.environ.get("SANDBOX_DATA_DIR") or "build/sandbox")
    return FaultInjector(IdpSandbox(tokens, data_dir), "idp")
