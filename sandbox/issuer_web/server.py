"""Serve credsync's published did-web folder (DID documents, status lists) as an issuer's web origin.

In a deployment the object store folder sits behind a CDN or static site at the issuer's domain;
here a loopback HTTP server plays that part, with the headers such an origin sets: media types
``application/did+json`` and ``application/vc+jwt``, and ``Cache-Control`` matching the status
lists' ``ttl``. Read-only; paths never leave the folder.

    python -m sandbox.issuer_web.server --root build/did-web --port 8089
"""

from __future__ import annotations

import argparse
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

STATUS_CACHE_CONTROL = "public, max-age=300"
DID_CACHE_CONTROL = "public, max-age=3600"


class IssuerWebHandler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        path = self.path.split("?", 1)[0]
        if "/status/" in path:
            self.send_header("Cache-Control", STATUS_CACHE_CONTROL)
        elif path.endswith("did.json"):
            self.send_header("Cache-Control", DID_CACHE_CONTROL)
        super().end_headers()

    def guess_type(self, path: str) -> str:  # type: ignore[override]
        if path.endswith("did.json"):
            return "application/did+json"
        if "/status/" in str(path).replace("\\", "/"):
            return "application/vc+jwt"
        return super().guess_type(path)

    def list_directory(self, path):
        self.send_error(HTTPStatus.NOT_FOUND)
        return None

    def log_message(self, format: str, *args: object) -> None:
        pass


def start(root: Path, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Serve ``root`` on ``host:port`` (0 = any free port) in a daemon thread; returns the server."""
    root.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer((host, port), partial(IssuerWebHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, name="issuer-web", daemon=True).start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089)
    args = parser.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), partial(IssuerWebHandler, directory=str(args.root)))
    print(f"serving {args.root} at http://localhost:{server.server_address[1]}/", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
