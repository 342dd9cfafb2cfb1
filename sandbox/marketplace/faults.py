"""The shared fault switches (sandbox/faults.py) plus the two connection faults a SaaS API shows most.

- ``drop_rate``: the connection closes before the request is processed: nothing happened, no answer
  (clients read "server disconnected without sending a response").
- ``lost_response_rate``: the request is processed for real (the write is applied), then the
  connection closes without a byte of the answer: the lost response idempotency keys exist for.

Both close the socket with no status line at all, which the shared ``reset_rate`` (a cut in the middle
of the body) does not cover. They follow the shared ``methods`` / ``paths`` aim. ``/admin/faults``
takes PUT or POST with every switch, GET shows them, DELETE clears them.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import asdict
from typing import Any

from starlette.requests import Request

from sandbox.faults import EXEMPT_PREFIXES, FaultInjector, _json
from sandbox.marketplace.problems import PROBLEM_BASE

OWN_SWITCHES = ("drop_rate", "lost_response_rate")
# uvicorn closes the transport without answering when an ASGI app returns a value (it logs an error).
CLOSE_CONNECTION = "close-connection"


class ConnectionFaults:
    """Outermost ASGI layer: connection drops and lost responses, then :class:`FaultInjector`'s faults."""

    def __init__(self, app: Any, name: str) -> None:
        # The shared injector would refuse this layer's switches in SANDBOX_FAULTS_<NAME>: read it here.
        self.injector = FaultInjector(app, f"{name}_shared")
        raw = os.environ.get(f"SANDBOX_FAULTS_{name.upper()}")
        self.configure(json.loads(raw) if raw else {})

    def configure(self, data: dict[str, Any]) -> None:
        data = dict(data)
        own = {switch: float(data.pop(switch, 0.0)) for switch in OWN_SWITCHES}
        if any(not 0 <= rate <= 1 for rate in own.values()):
            raise ValueError(f"{OWN_SWITCHES} must be between 0 and 1")
        self.injector.configure(data)
        self.rates = own
        self._random = random.Random(self.injector.settings.seed)

    def settings(self) -> dict[str, Any]:
        return {**asdict(self.injector.settings), **self.rates}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> Any:
        if scope["type"] != "http":
            return await self.injector(scope, receive, send)
        path = scope.get("path", "")
        if path == "/admin/faults":
            await self._admin(scope, receive, send)
            return None
        if not path.startswith(EXEMPT_PREFIXES) and self.injector._targeted(scope["method"], path):
            roll = self._random.random()
            if roll < self.rates["drop_rate"]:
                return CLOSE_CONNECTION
            if roll - self.rates["drop_rate"] < self.rates["lost_response_rate"]:
                async def swallow(_message: dict) -> None:
                    return None

                await self.injector.app(scope, receive, swallow)
                return CLOSE_CONNECTION
        return await self.injector(scope, receive, _coded(send))

    async def _admin(self, scope: dict, receive: Any, send: Any) -> None:
        method = scope["method"]
        if method == "DELETE":
            self.configure({})
        elif method in ("PUT", "POST"):
            try:
                data = json.loads(await Request(scope, receive).body() or b"{}")
                if not isinstance(data, dict):
                    raise TypeError("expected a JSON object of switches")
                self.configure(data)
            except (ValueError, TypeError) as exc:
                await _json(send, 400, {"error": str(exc)})
                return
        elif method != "GET":
            await _json(send, 405, {"error": "method not allowed"})
            return
        await _json(send, 200, self.settings())


def _coded(send: Any) -> Any:
    """``send`` that gives the shared injector's problems the marketplace's ``type`` and ``code``.

    The contract promises a machine ``code`` on every 4xx/5xx; the shared injector writes ``error``
    (``rate_limited``, ``injected_fault``...). Only a whole problem body is rewritten: a reset's partial
    body passes untouched, so the cut looks the same.
    """
    held: dict[str, Any] = {}

    async def coded(message: dict) -> None:
        if message["type"] == "http.response.start":
            headers = dict(message.get("headers", []))
            if headers.get(b"content-type", b"").startswith(b"application/problem+json"):
                held["start"] = message
                return
        elif "start" in held:
            start = held.pop("start")
            body = message.get("body", b"")
            if not message.get("more_body"):
                problem = json.loads(body or b"{}")
                if problem.get("fault") and "code" not in problem:
                    problem.update(code=problem.get("error"), type=PROBLEM_BASE + str(problem.get("error")))
                    body = json.dumps(problem).encode()
                    start = {**start, "headers": [(k, v) for k, v in start["headers"] if k != b"content-length"]
                             + [(b"content-length", str(len(body)).encode())]}
                    message = {**message, "body": body}
            await send(start)
        await send(message)

    return coded
