"""``python -m credsync.registry_pull new-client <client_id> <tenant>...``: a client secret for a registry.

Prints the secret once (hand it to the registry over your secret channel) and the JSON fragment
for Connection ``credsync_registry_pull``'s extra, which holds only the secret's SHA-256.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys

from credsync.registry_pull.clients import DEFAULT_REQUESTS_PER_MINUTE, secret_sha256


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credsync.registry_pull")
    sub = parser.add_subparsers(dest="command", required=True)
    new = sub.add_parser("new-client", help="a new client secret and its Connection extra entry")
    new.add_argument("client_id")
    new.add_argument("tenants", nargs="+")
    new.add_argument("--requests-per-minute", type=int, default=DEFAULT_REQUESTS_PER_MINUTE)
    args = parser.parse_args(argv)
    secret = secrets.token_urlsafe(32)
    entry = {args.client_id: {"secret_sha256": secret_sha256(secret), "tenants": args.tenants,
                              "requests_per_minute": args.requests_per_minute}}
    print(f"client secret (shown once; give it to the registry, do not store it here): {secret}", file=sys.stderr)
    print(json.dumps({"clients": entry}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
