"""``python -m sandbox.ralph up|down|status``: the real Ralph LRS on loopback for a local run.

``up`` creates ``build/ralph-venv`` if needed, starts Ralph with one user per ``--tenant`` and
records pid and port in ``<data_dir>/ralph.json``; the tenants' Basic credentials go to
``<data_dir>/users.json`` (mode 0600), never to the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
from pathlib import Path

from sandbox.ralph.launcher import REPO_ROOT, generate_users, start_ralph

DEFAULT_DATA_DIR = REPO_ROOT / "build" / "ralph"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.ralph")
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--tenant", action="append", default=None, help="repeatable; default acme and globex")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    args = parser.parse_args(argv)
    state_path = args.data_dir / "ralph.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else None
    if args.command == "status":
        print(json.dumps(state or {"running": False}))
        return 0
    if args.command == "down":
        if state and state.get("pid"):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(state["pid"]), signal.SIGTERM)
        state_path.unlink(missing_ok=True)
        return 0
    users = generate_users(args.tenant or ["acme", "globex"])
    server = start_ralph(args.data_dir, users, port=args.port)
    fd = os.open(args.data_dir / "users.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({tenant: {"login": key, "password": secret} for tenant, (key, secret) in users.items()}, handle)
    state_path.write_text(json.dumps(server.state()))
    print(f"Ralph LRS at {server.base_url} (tenants {', '.join(users)}; credentials in {args.data_dir / 'users.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
