"""Hostile load on the HRIS webhook receiver: 20 concurrent 100 MiB bodies nobody signed.

The receiver runs under a real uvicorn in its own process on 127.0.0.1 (as in
the api-server), so its memory can be read from /proc. The clients stream
their bodies from one reused 64 KiB block (the test never holds 2 GB either)
over raw sockets: before each block they look for an answer, so a server that
answers early and drops the connection is seen answering, not as a reset.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import resource
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from credsync.people.webhooks import SIGNATURE_HEADER

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the receiver's memory from /proc"),
]

REPO = Path(__file__).resolve().parents[3]
CLIENTS = 20
BODY_BYTES = 100 * 1024 * 1024
BLOCK = b"x" * 65536
MAX_RSS_GROWTH = 50 * 1024 * 1024
FORGED = f"t={int(time.time())},v1={'ab' * 32}"  # reads as a signature, matches nothing

# The receiver as the api-server serves it, with a tenant secret configured; nothing sent here is signed
# with it, so the warehouse is never reached (a URL that goes nowhere proves it).
SERVER = """
import sys, uvicorn
from credsync.people.webhook_app import create_app
from credsync.people.webhooks import WebhookReceiver

def never(event):
    raise AssertionError("nothing the load test sends is signed")

receiver = WebhookReceiver("postgresql://nobody@127.0.0.1:9/none", secret_for=lambda t: "load-test-secret",
                           trigger=never)
uvicorn.run(create_app(receiver), host="127.0.0.1", port=int(sys.argv[1]), http=sys.argv[2],
            log_level="warning", lifespan="off")
"""


@dataclass
class Server:
    pid: int
    port: int


@dataclass
class Delivery:
    status: int | None
    reason: str | None
    sent: int
    error: str | None = None


def limit_memory() -> None:
    # A receiver that buffers bodies again must fail this test, not take the machine down with it.
    cap = 3 * 1024 ** 3
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request) -> Iterator[Server]:
    """The receiver in its own uvicorn process, with either of uvicorn's HTTP parsers."""
    pytest.importorskip(request.param)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "plugins")])}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(port), request.param], env=env, cwd=REPO,
                            preexec_fn=limit_memory)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, "the receiver exited at start"
            assert time.monotonic() < deadline, "the receiver did not start"
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/")
                conn.getresponse().read()
                conn.close()
                break
            except OSError:
                time.sleep(0.1)
        yield Server(proc.pid, port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def request_head(port: int, *, signed: bool, chunked: bool, length: int = BODY_BYTES) -> bytes:
    lines = ["POST /hris/acme/webhooks HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json"]
    if signed:
        lines.append(f"{SIGNATURE_HEADER}: {FORGED}")
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def body_pieces(chunked: bool, length: int = BODY_BYTES) -> Iterator[bytes]:
    """``length`` bytes in 64 KiB blocks (chunk-framed when ``chunked``), made from one block."""
    frame = b"%x\r\n" % len(BLOCK)
    for _ in range(length // len(BLOCK)):
        if chunked:
            yield frame
            yield BLOCK
            yield b"\r\n"
        else:
            yield BLOCK
    if chunked:
        yield b"0\r\n\r\n"


def deliver(port: int, *, signed: bool, chunked: bool, start: threading.Barrier | None = None) -> Delivery:
    """Send one request, streaming its body until the server answers or drops us; read the answer."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent, error = 0, None
    try:
        if start is not None:
            start.wait(timeout=30)
        sock.sendall(request_head(port, signed=signed, chunked=chunked))
        for piece in body_pieces(chunked):
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:  # the answer (or the close) came before the body was all sent
                break
            try:
                sock.sendall(piece)
            except OSError as exc:  # BrokenPipe / ConnectionReset: the server closed early; its answer may wait
                error = type(exc).__name__
                break
            sent += len(piece)
        response = http.client.HTTPResponse(sock)
        try:
            response.begin()
        except OSError as exc:
            return Delivery(None, None, sent, f"{error or ''} then {type(exc).__name__} reading the answer")
        payload = response.read()
        reason = None
        if payload.startswith(b"{"):
            reason = json.loads(payload).get("reason")
        return Delivery(response.status, reason, sent, error)
    finally:
        sock.close()


def memory_kib(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


class PeakRss:
    """The process's peak RSS from here on: its high-water mark reset (clear_refs 5) and, as a
    fallback where that is not allowed, VmRSS sampled every few milliseconds."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.baseline = memory_kib(pid)["VmRSS"]
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self.sampled = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.003):
            self.sampled = max(self.sampled, memory_kib(self.pid)["VmRSS"])

    def growth_bytes(self) -> int:
        self._stop.set()
        self._thread.join()
        now = memory_kib(self.pid)
        peak = max(self.sampled, now["VmHWM"] if self.hwm_reset else 0, now["VmRSS"])
        return (peak - self.baseline) * 1024


def warm_up(port: int) -> None:
    """Every path the load takes, once, so the baseline already holds what the first request allocates."""
    for signed in (False, True):
        for chunked in (False, True):
            deliver_small(port, signed=signed, chunked=chunked)


def deliver_small(port: int, *, signed: bool, chunked: bool) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        body = b"".join(body_pieces(chunked, len(BLOCK) * 2))
        head = request_head(port, signed=signed, chunked=chunked, length=len(body))
        with contextlib.suppress(OSError):  # an early answer may close before all of it is sent
            sock.sendall(head + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status


@pytest.mark.parametrize(("signed", "chunked", "status", "reason"), [
    pytest.param(False, False, 401, "bad_signature", id="no-signature-content-length"),
    pytest.param(False, True, 401, "bad_signature", id="no-signature-chunked"),
    pytest.param(True, False, 413, "too_large", id="forged-signature-content-length"),
    pytest.param(True, True, 413, "too_large", id="forged-signature-chunked"),
])
def test_twenty_concurrent_100_mib_bodies_leave_the_receivers_memory_flat(server, signed, chunked, status, reason):
    warm_up(server.port)
    peak = PeakRss(server.pid)
    start = threading.Barrier(CLIENTS)
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        deliveries = list(pool.map(lambda _: deliver(server.port, signed=signed, chunked=chunked, start=start),
                                   range(CLIENTS)))
    elapsed = time.monotonic() - began
    growth = peak.growth_bytes()

    answers = [(d.status, d.reason) for d in deliveries]
    assert answers == [(status, reason)] * CLIENTS, [d for d in deliveries if (d.status, d.reason) != (status,
                                                                                                          reason)]
    assert growth < MAX_RSS_GROWTH, f"receiver RSS grew by {growth / 2**20:.1f} MiB under {CLIENTS} bodies"
    # Answered early: no client got to send its whole body, so the receiver did not read (or drain) it.
    assert max(d.sent for d in deliveries) < BODY_BYTES, "a client sent its whole body before it was answered"
    assert elapsed < 30, f"{CLIENTS} rejections took {elapsed:.1f}s"
