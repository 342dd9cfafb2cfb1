"""Faults on demand for every sandbox: 5xx, 429 bursts, latency, hangs, resets.

Wraps any ASGI app. Switches come from env ``SANDBOX_FAULTS_<NAME>`` (JSON) at
start and from ``PUT /admin/faults`` / ``DELETE /admin/faults`` at run time.
Admin and health paths are never faulted, so tests can always switch faults off.
Injected failures answer RFC 9457 ``application/problem+json`` that also carries
``"error"`` (a short code) and ``"fault": true`` so tests can tell them from real ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from dataclasses import asdict, dataclass, field
from http import HTTPStatus
from typing import Any

EXEMPT_PREFIXES = ("/admin", "/health")


@dataclass
class Burst429:
    every: int = 0
    length: int = 0
    retry_after: int = 1


@dataclass
class FaultSettings:
    error_rate: float = 0.0
    error_status: int = 503
    burst_429: Burst429 = field(default_factory=Burst429)
    latency_ms: int = 0
    hang_rate: float = 0.0
    hang_seconds: float = 30.0
    reset_rate: float = 0.0
    drop_webhooks: bool = False
    seed: int = 1
    # Limit the faults to some requests (empty: all): methods such as "POST", path prefixes such as
    # "/v1/certificates". A partial outage (writes refused, reads fine) is how real ones often look.
    methods: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultSettings:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault switches: {sorted(unknown)}")
        burst = data.get("burst_429") or {}
        settings = cls(**{**data, "burst_429": Burst429(**burst)})
        if not 400 <= settings.error_status <= 599:
            raise ValueError(f"error_status {settings.error_status} is not a 4xx/5xx status")
        return settings


class FaultInjector:
    """ASGI middleware applying the current :class:`FaultSettings` to business requests."""

    def __init__(self, app: Any, name: str) -> None:
        self.app = app
        self.name = name
        raw = os.environ.get(f"SANDBOX_FAULTS_{name.upper()}")
        self.configure(json.loads(raw) if raw else {})

    def configure(self, data: dict[str, Any]) -> None:
        self.settings = FaultSettings.from_json(data)
        self._random = random.Random(self.settings.seed)
        self._count = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path == "/admin/faults":
            await self._admin(scope, receive, send)
            return
        if path.startswith(EXEMPT_PREFIXES) or not self._targeted(scope["method"], path):
            await self.app(scope, receive, send)
            return
        await self._faulted(scope, receive, send)

    def _targeted(self, method: str, path: str) -> bool:
        s = self.settings
        return ((not s.methods or method.upper() in {m.upper() for m in s.methods})
                and (not s.paths or path.startswith(tuple(s.paths))))

    async def _faulted(self, scope: dict, receive: Any, send: Any) -> None:
        s = self.settings
        self._count += 1
        if s.latency_ms:
            await asyncio.sleep(s.latency_ms / 1000)
        burst = s.burst_429
        if burst.every and (self._count % burst.every) < burst.length:
            await _problem(
                send,
                429,
                "rate_limited",
                f"injected 429 burst; retry after {burst.retry_after}s",
                [(b"retry-after", str(burst.retry_after).encode())],
            )
            return
        roll = self._random.random()
        if roll < s.hang_rate:
            await asyncio.sleep(s.hang_seconds)
            await _problem(send, 504, "gateway_timeout", f"injected hang of {s.hang_seconds}s")
            return
        roll -= s.hang_rate
        if roll < s.error_rate:
            await _problem(send, s.error_status, "injected_fault", "injected server error")
            return
        roll -= s.error_rate
        if roll < s.reset_rate:
            await self._reset_mid_response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _reset_mid_response(self, scope: dict, receive: Any, send: Any) -> None:
        """Process the request for real, then cut the connection in the middle of the body.

        Status and headers go out with a ``Content-Length`` larger than what follows, then ten
        bytes of body, then the connection closes (uvicorn closes it when the app returns
        without finishing the response). Clients read ``IncompleteRead`` (requests:
        ``ChunkedEncodingError``), not a ``ConnectionError``. The server has done the work but
        the client never sees the answer: the case idempotency keys and look-ups before
        create exist for.
        """

        async def cut(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"content-length"]
                headers.append((b"content-length", b"100000"))
                await send({**message, "headers": headers})
            elif message["type"] == "http.response.body":
                await send({"type": "http.response.body", "body": message.get("body", b"")[:10], "more_body": True})
                raise ConnectionResetError("sandbox fault: connection reset mid-response")

        try:
            await self.app(scope, receive, cut)
        except ConnectionResetError:
            return

    async def _admin(self, scope: dict, receive: Any, send: Any) -> None:
        method = scope["method"]
        if method == "GET":
            await _json(send, 200, asdict(self.settings))
        elif method == "DELETE":
            self.configure({})
            await _json(send, 200, asdict(self.settings))
        elif method == "PUT":
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            try:
                self.configure(json.loads(body or b"{}"))
            except (ValueError, TypeError) as exc:
                await _json(send, 400, {"error": str(exc)})
                return
            await _json(send, 200, asdict(self.settings))
        else:
            await _json(send, 405, {"error": "method not allowed"})


async def _problem(send: Any, status: int, error: str, detail: str, extra_headers: list | None = None) -> None:
    """An injected failure as RFC 9457 problem+json; ``error`` and ``fault`` stay for simple clients."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Injected fault"
    body = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "error": error,
        "fault": True,
    }
    await _json(send, status, body, extra_headers, b"application/problem+json")


async def _json(
    send: Any,
    status: int,
    body: dict,
    extra_headers: list | None = None,
    content_type: bytes = b"application/json",
) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", content_type), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra_headers or [])})
    await send({"type": "http.response.body", "body": payload})
