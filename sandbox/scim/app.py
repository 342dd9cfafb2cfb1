"""SCIM 2.0 sandbox: the real scim2-server, multi-tenant, bearer-protected, persisted.

Run: ``python -m uvicorn sandbox.scim.app:create_app --factory --port 18704``.

Environment:
- ``SANDBOX_SCIM_TOKEN`` (required): the Bearer token every SCIM request must carry.
- ``SANDBOX_SCIM_TENANTS``: comma list of tenants, each served under
  ``/{tenant}/v2/`` (default ``acme,globex``).
- ``SANDBOX_DATA_DIR``: state directory (default ``build/sandbox``); resources
  live in ``<dir>/scim/resources.sqlite3``.
- ``SANDBOX_FAULTS_SCIM``: fault switches at start (see ``sandbox/faults.py``).

All SCIM behaviour (filters, PATCH, pagination, ETags/If-Match, /Bulk,
uniqueness, the enterprise extension) is scim2-server's; this module only
composes it: tenants via its ``TenantDispatcher``, auth via its
``BearerTokenApplication``, durability via :mod:`sandbox.scim.storage`, plus
the sandbox conventions ``/health``, ``/admin/reset``, ``/admin/{tenant}/stats``
and fault injection.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from a2wsgi import WSGIMiddleware
from scim2_models import ScimProvider
from scim2_server.applications.wsgi import TenantDispatcher
from scim2_server.service import ScimService
from scim2_server.testserver.application import BEARER_TOKEN_SCHEME, BearerTokenApplication
from scim2_server.utils import (
    load_default_resource_types,
    load_default_schemas,
    load_default_service_provider_config,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.faults import FaultInjector
from sandbox.scim.storage import PersistentStorage, ResourceJournal

DEFAULT_TENANTS = ("acme", "globex")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class ScimSandboxSettings:
    """What the SCIM sandbox serves, read from the environment."""

    tenants: tuple[str, ...]
    token: str
    data_dir: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ScimSandboxSettings:
        env = os.environ if environ is None else environ
        token = env.get("SANDBOX_SCIM_TOKEN", "")
        if not token:
            # An open SCIM server would let a misconfigured pipeline "pass" without auth.
            raise RuntimeError(
                "SANDBOX_SCIM_TOKEN is not set: the SCIM sandbox refuses to serve without a Bearer token"
            )
        raw_tenants = env.get("SANDBOX_SCIM_TENANTS") or ",".join(DEFAULT_TENANTS)
        tenants = tuple(t.strip() for t in raw_tenants.split(",") if t.strip())
        for tenant in tenants:
            if not TenantDispatcher.is_valid_tenant(tenant) or tenant in ("admin", "health"):
                raise RuntimeError(f"SANDBOX_SCIM_TENANTS: {tenant!r} cannot be a tenant name")
        if not tenants:
            raise RuntimeError("SANDBOX_SCIM_TENANTS names no tenant")
        data_dir = Path(env.get("SANDBOX_DATA_DIR") or "build/sandbox")
        return cls(tenants=tenants, token=token, data_dir=data_dir)


def build_provider() -> ScimProvider:
    """RFC 7643 schemas and resource types (User with the enterprise extension, Group).

    Announces the Bearer scheme the same way ``scim2-server --bearer-token`` does,
    so 401 responses carry ``WWW-Authenticate``.
    """
    config = load_default_service_provider_config()
    config.authentication_schemes = [*(config.authentication_schemes or []), BEARER_TOKEN_SCHEME]
    return ScimProvider.from_discovery(
        load_default_schemas().values(), load_default_resource_types().values(), config=config
    )


class ScimSandbox:
    """ASGI app routing ``/health`` and ``/admin/*`` to the sandbox admin, the rest to scim2-server.

    Counts, per tenant and HTTP method, the requests that reach scim2-server, so
    tests can assert that a rerun of the pipeline made no SCIM writes.
    """

    def __init__(self, settings: ScimSandboxSettings) -> None:
        self.settings = settings
        self.journal = ResourceJournal(settings.data_dir / "scim" / "resources.sqlite3")
        provider = build_provider()
        # No cursor pagination is announced, so the service needs no secret.
        service = ScimService(provider)
        self.storages = {t: PersistentStorage(t, self.journal, provider) for t in settings.tenants}
        self.applications = {
            tenant: BearerTokenApplication(storage, provider, service=service, bearer_tokens=[settings.token])
            for tenant, storage in self.storages.items()
        }
        self.requests: dict[str, Counter[str]] = {t: Counter() for t in settings.tenants}
        self.writes: Counter[str] = Counter()
        # Unknown tenants get scim2-server's own SCIM 404 body.
        self.scim = WSGIMiddleware(TenantDispatcher(self.applications.get))
        self.admin = Starlette(
            routes=[
                Route("/health", self.health, methods=["GET"]),
                Route("/admin/reset", self.reset, methods=["POST"]),
                Route("/admin/{tenant}/stats", self.stats, methods=["GET", "DELETE"]),
            ],
            lifespan=self._lifespan,
        )

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        yield
        self.journal.close()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.admin(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if path == "/health" or path.startswith("/admin/"):
            await self.admin(scope, receive, send)
            return
        self._count(path, scope["method"])
        await self.scim(scope, receive, send)

    def _count(self, path: str, method: str) -> None:
        tenant = path.lstrip("/").partition("/")[0]
        if tenant not in self.requests:
            return
        self.requests[tenant][method] += 1
        # POST .search is a query, not a write.
        if method in WRITE_METHODS and not path.endswith("/.search"):
            self.writes[tenant] += 1

    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "tenants": list(self.settings.tenants)})

    async def reset(self, request: Request) -> JSONResponse:
        for storage in self.storages.values():
            storage.reset()
        for counter in self.requests.values():
            counter.clear()
        self.writes.clear()
        return JSONResponse({"status": "reset", "tenants": list(self.settings.tenants)})

    async def stats(self, request: Request) -> JSONResponse:
        tenant = request.path_params["tenant"]
        if tenant not in self.storages:
            return JSONResponse({"error": f"unknown SCIM tenant {tenant!r}"}, status_code=404)
        if request.method == "DELETE":
            self.requests[tenant].clear()
            self.writes[tenant] = 0
        return JSONResponse(
            {
                "tenant": tenant,
                "requests": dict(self.requests[tenant]),
                "writes": self.writes[tenant],
                "resources": self.storages[tenant].counts(),
            }
        )


def create_app() -> FaultInjector:
    """uvicorn factory: the SCIM sandbox configured from the environment, with faults."""
    return FaultInjector(ScimSandbox(ScimSandboxSettings.from_env()), "scim")
