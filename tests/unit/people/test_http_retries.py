"""The shared HTTP client honours Retry-After and gives up after bounded attempts (real local server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from credsync.people.http import ApiClient, ApiError, HttpTarget


class Script(BaseHTTPRequestHandler):
    replies: list[tuple[int, dict[str, str]]] = []
    seen: list[float] = []

    def do_GET(self) -> None:
        Script.seen.append(time.monotonic())
        status, headers = Script.replies.pop(0) if Script.replies else (200, {})
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Script)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Script.seen.clear()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_429_waits_for_retry_after_then_succeeds(server: str) -> None:
    Script.replies = [(429, {"Retry-After": "1"}), (200, {})]
    response = ApiClient(HttpTarget(server, backoff_base=0.01)).request("GET", "/x")
    assert response.status_code == 200
    assert Script.seen[1] - Script.seen[0] >= 0.95


def test_persistent_5xx_gives_up_after_bounded_attempts(server: str) -> None:
    Script.replies = [(503, {})] * 10
    client = ApiClient(HttpTarget(server, max_attempts=3, backoff_base=0.01, backoff_max=0.02))
    with pytest.raises(ApiError, match="still 503 after 3 attempts"):
        client.request("GET", "/x")
    assert len(Script.seen) == 3


def test_client_error_is_not_retried_and_names_the_url(server: str) -> None:
    Script.replies = [(404, {})]
    with pytest.raises(ApiError, match=r"GET http://127\.0\.0\.1:\d+/missing: HTTP 404"):
        ApiClient(HttpTarget(server)).request("GET", "/missing")
    assert len(Script.seen) == 1
