"""``python -m sandbox up|down|status``: run the sandboxes for a local demo or a dev Airflow.

``up`` starts every sandbox on its default port (see ``sandbox.launcher``),
generating credentials once per data dir into ``<data_dir>/secrets.env``
(mode 0600; the Airflow side reads them from there) and recording pids and
ports in ``<data_dir>/sandboxes.json`` so ``down`` and ``status`` find them.
Secrets are never printed.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from sandbox.launcher import (
    DEFAULT_PORTS,
    REPO_ROOT,
    SANDBOXES,
    SECRETS_FILE,
    STATE_FILE,
    SandboxSet,
    SandboxStartError,
    generate_secrets,
    read_secrets,
    start_all,
    write_secrets,
)

DEFAULT_DATA_DIR = Path("build/sandbox")
TENANTS_FILE = REPO_ROOT / "include" / "tenants.yaml"
SEED_TIMEOUT_SECONDS = 600


def configured_tenants(path: Path = TENANTS_FILE) -> list[str]:
    """Enabled tenant ids from include/tenants.yaml (the sandboxes serve the same tenants as the pipeline)."""
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    tenants = [str(t["tenant_id"]) for t in raw.get("tenants", []) if t.get("enabled", True)]
    if not tenants:
        raise SystemExit(f"{path}: no enabled tenant under 'tenants'")
    return tenants


def _parse_ports(values: list[str]) -> dict[str, int]:
    ports: dict[str, int | None] = dict(DEFAULT_PORTS)
    for value in values:
        name, sep, port = value.partition("=")
        if not sep or name not in SANDBOXES or not port.isdigit():
            raise SystemExit(f"--port {value!r}: expected NAME=PORT with NAME in {list(SANDBOXES)} (0 = any free port)")
        ports[name] = int(port)
    return {k: v or 0 for k, v in ports.items()}


def _secrets_for(data_dir: Path, tenants: list[str]) -> tuple[dict[str, str], Path, bool]:
    """Reuse the data dir's secrets (Airflow connections may already hold them) or create them."""
    path = data_dir / SECRETS_FILE
    if path.exists():
        return read_secrets(path), path, False
    env = generate_secrets(tenants)
    write_secrets(path, env)
    return env, path, True


class SeedError(RuntimeError):
    """Seeding a sandbox failed; the message names the sandbox, tenant and URL."""


def _post_json(url: str, body: dict[str, Any]) -> Any:
    # url is always http://127.0.0.1:<port>/... built by SandboxSet, never user input.
    request = urllib.request.Request(  # noqa: S310
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=SEED_TIMEOUT_SECONDS) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def seed(running: SandboxSet, tenants: list[str], workers: int, seed_value: int) -> None:
    """Seed the HRIS workforce and the matching LRS learning history, per tenant."""
    body = {"workers": workers, "seed": seed_value}
    for tenant in tenants:
        for name, path in (("hris", f"/tenants/{tenant}/seed"), ("lrs", f"/{tenant}/seed")):
            if name not in running.ports:
                continue
            url = f"{running.admin(name)}{path}"
            try:
                _post_json(url, body)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                raise SeedError(f"seeding {name} for tenant {tenant!r} failed (POST {url}): {exc}") from exc
            print(f"seeded {name} {tenant}: {workers} workers (seed {seed_value})")


def cmd_up(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.resolve()
    if (data_dir / STATE_FILE).exists():
        previous = SandboxSet.load(data_dir)
        if any(previous.running().values()):
            print(
                f"sandboxes already running for {data_dir}; run `python -m sandbox down` first",
                file=sys.stderr,
            )
            return 1
    tenants = args.tenant or configured_tenants()
    env, secrets_path, created = _secrets_for(data_dir, tenants)
    try:
        running = start_all(data_dir, env=env, ports=_parse_ports(args.port), names=args.only or SANDBOXES)
    except SandboxStartError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    state = running.save()
    for name in running.ports:
        print(f"{name:11} {running.url(name):28} pid {running.pids[name]}  log {running.log_path(name)}")
    print(f"credentials {'written to' if created else 'reused from'} {secrets_path} (mode 0600)")
    print(f"state {state}")
    try:
        if args.seed_workers:
            seed(running, tenants, args.seed_workers, args.seed)
        if args.foreground:
            _wait_for_signal()
    except SeedError as exc:
        running.stop()
        print(f"error: {exc}; sandboxes stopped", file=sys.stderr)
        return 1
    except BaseException:
        running.stop()
        raise
    if args.foreground:
        running.stop()
        print("sandboxes stopped")
    return 0


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    print("running in the foreground; Ctrl-C stops the sandboxes", flush=True)
    stop.wait()


def cmd_down(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.resolve()
    try:
        running = SandboxSet.load(data_dir)
    except FileNotFoundError:
        print(f"no sandboxes recorded in {data_dir / STATE_FILE}")
        return 0
    running.stop()
    left = [name for name, alive in running.running().items() if alive]
    if left:
        print(f"could not stop {left}", file=sys.stderr)
        return 1
    (data_dir / STATE_FILE).unlink(missing_ok=True)
    print(f"stopped {sorted(running.pids)}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir.resolve()
    try:
        running = SandboxSet.load(data_dir)
    except FileNotFoundError:
        print(f"no sandboxes recorded in {data_dir / STATE_FILE}")
        return 3
    all_ok = True
    for name, alive in running.running().items():
        healthy = alive and running.healthy(name)
        all_ok &= healthy
        state = "healthy" if healthy else ("running, not healthy" if alive else "stopped")
        print(f"{name:11} {running.url(name):28} pid {running.pids[name]:<8} {state}")
    return 0 if all_ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m sandbox", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name, handler, text in (
        ("up", cmd_up, "start the sandboxes"),
        ("down", cmd_down, "stop sandboxes started by `up`"),
        ("status", cmd_status, "show whether the recorded sandboxes are healthy"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument(
            "--data-dir",
            type=Path,
            default=DEFAULT_DATA_DIR,
            help="state, logs, secrets (default %(default)s)",
        )
        sub.set_defaults(handler=handler)
        if name == "up":
            sub.add_argument(
                "--seed-workers",
                type=int,
                default=0,
                metavar="N",
                help="seed N workers per tenant (HRIS + LRS)",
            )
            sub.add_argument("--seed", type=int, default=1, help="seed of the synthetic data (default %(default)s)")
            sub.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops everything")
            sub.add_argument(
                "--port",
                action="append",
                default=[],
                metavar="NAME=PORT",
                help="override a default port (0 = any free port)",
            )
            sub.add_argument(
                "--tenant",
                action="append",
                metavar="ID",
                help="tenants to serve (default: enabled tenants of include/tenants.yaml)",
            )
            sub.add_argument("--only", action="append", choices=SANDBOXES, help="start only these sandboxes")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
