"""A real HTTP server on loopback whose answers a test scripts, and Airflow Connections from env vars."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


Reply = tuple[int, dict[str, str], Any]  # status, headers, JSON body


@dataclass
class Server:
    url: str
    handler: Callable[[Seen], Reply]
    seen: list[Seen] = field(default_factory=list)


@contextmanager
def serve(handler: Callable[[Seen], Reply] | list[Reply]) -> Iterator[Server]:
    """Serve ``handler`` (or a list of replies, the last one repeating) on 127.0.0.1."""
    if isinstance(handler, list):
        replies = list(handler)
        count = [0]

        def scripted(_seen: Seen) -> Reply:
            count[0] += 1
            return replies[min(count[0], len(replies)) - 1]

        handler = scripted

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            seen = Seen(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()),
                        self.rfile.read(length) if length else b"", time.monotonic())
            server.seen.append(seen)
            status, headers, body = server.handler(seen)
            payload = b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            for key, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _any

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server = Server(f"http://127.0.0.1:{httpd.server_address[1]}", handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


def set_connection(monkeypatch: Any, conn_id: str, **fields: Any) -> None:
    """An Airflow Connection ``conn_id`` given the documented way: ``AIRFLOW_CONN_<ID>`` as JSON."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "http", **fields}))
