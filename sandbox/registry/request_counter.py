"""Counts business requests by endpoint and status for ``GET /admin/stats``.

It sits outside the fault injector so injected 5xx/429 answers are counted too:
benchmarks divide these counts by certificates to get requests per credential.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Match

from sandbox.registry.store import RegistryStore

UNCOUNTED_PREFIXES = ("/admin", "/health")


class RequestCounter:
    """ASGI middleware recording (method, route template, status) of each business request."""

    def __init__(self, app: Any, store: RegistryStore, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.store = store
        self.routes = routes

    def _endpoint(self, scope: dict) -> str:
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE:
                return getattr(route, "path", scope["path"])
        return "<unmatched>"

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(UNCOUNTED_PREFIXES):
            await self.app(scope, receive, send)
            return
        status = 0  # stays 0 if the request dies before any answer (e.g. client gone during a hang)

        async def recording_send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            await run_in_threadpool(self.store.count_request, scope["method"], self._endpoint(scope), status)
