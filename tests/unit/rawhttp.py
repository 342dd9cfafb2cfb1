"""A scripted HTTP/1.1 server on a raw loopback socket, for faults a framework server will not produce.

Each connection takes the next step of the script (the last step repeats):

- ``ok``: 200 with the JSON body, complete.
- ``short``: status and headers with a ``Content-Length`` larger than the body written, then close (FIN).
- ``rst``: the same, then an abortive close (SO_LINGER 0), so the client reads a TCP RST mid-body.
- ``chunked_cut``: ``Transfer-Encoding: chunked``, one chunk, then close without the last chunk.
- ``gzip_cut``: ``Content-Encoding: gzip`` whose bytes break off into garbage, complete length.
- ``503``, ``404`` ...: that status with a small JSON problem body.
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class RawServer:
    url: str
    script: list[str]
    body: bytes
    requests: list[tuple[str, str]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.requests)


@contextmanager
def raw_server(script: list[str], body: object = None) -> Iterator[RawServer]:
    payload = json.dumps({"ok": True, "data": list(range(200))} if body is None else body).encode()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    server = RawServer(f"http://127.0.0.1:{listener.getsockname()[1]}", list(script), payload)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn:
                _answer(conn, server)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def _answer(conn: socket.socket, server: RawServer) -> None:
    conn.settimeout(5)
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(65536)
        if not chunk:
            return
        head += chunk
    header_block, _, rest = head.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    length = next((int(line.split(":", 1)[1]) for line in lines[1:] if line.lower().startswith("content-length:")), 0)
    while len(rest) < length:
        rest += conn.recv(65536)
    server.requests.append((method, path))
    step = server.script[min(len(server.requests), len(server.script)) - 1]
    body = server.body
    if step == "ok":
        conn.sendall(_head(200, len(body)) + body)
    elif step == "short":
        conn.sendall(_head(200, len(body) + 1000) + body[: len(body) // 2])
    elif step == "rst":
        conn.sendall(_head(200, len(body) + 1000) + body[: len(body) // 2])
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    elif step == "chunked_cut":
        half = body[: len(body) // 2]
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                     b"Connection: close\r\n\r\n" + f"{len(half):x}\r\n".encode() + half + b"\r\n")
    elif step == "gzip_cut":
        packed = gzip.compress(body)
        broken = packed[: len(packed) // 2] + b"\xff" * (len(packed) - len(packed) // 2)
        conn.sendall(_head(200, len(broken), b"Content-Encoding: gzip\r\n") + broken)
    else:
        problem = json.dumps({"status": int(step), "detail": "scripted"}).encode()
        conn.sendall(_head(int(step), len(problem)) + problem)


def _head(status: int, length: int, extra: bytes = b"") -> bytes:
    return (f"HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n"
            "Connection: close\r\n").encode() + extra + b"\r\n"
