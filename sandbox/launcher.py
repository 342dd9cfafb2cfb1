"""Start, watch and stop the sandboxes as uvicorn subprocesses on loopback.

Used by ``python -m sandbox up|down|status``, by ``make demo`` and by the test
fixture ``sandboxes``. Each sandbox runs as
``python -m uvicorn sandbox.<name>.app:create_app --factory`` in its own process
group, logs to ``<data_dir>/logs/<name>.log`` and keeps its state under
``<data_dir>`` (env ``SANDBOX_DATA_DIR``). A running set is recorded in
``<data_dir>/sandboxes.json`` (ports and pids, never secrets) so another
process can stop it.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

SANDBOXES: tuple[str, ...] = ("registry", "hris", "lrs", "scim", "idp", "nelc", "marketplace")
DEFAULT_PORTS: dict[str, int] = {"registry": 18701, "hris": 18702, "lrs": 18703, "scim": 18704, "idp": 18705,
                                 "nelc": 18706, "marketplace": 18707}
HOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[1]
STATE_FILE = "sandboxes.json"
SECRETS_FILE = "secrets.env"
REGISTRY_CLIENT_ID = "credsync"
# The talent marketplace's scopes; each tenant's OAuth client (mkt-<tenant>) gets them all, and credsync
# asks per flow for the few it needs.
MARKETPLACE_SCOPES = ("admin:bulk", "read:activity:aggregate", "read:members", "write:badge", "write:learning",
                      "write:members")
LOG_TAIL_LINES = 40


class SandboxStartError(RuntimeError):
    """A sandbox did not come up; the message names it and quotes the end of its log."""


def generate_secrets(tenants: Iterable[str]) -> dict[str, str]:
    """Fresh random credentials for one run, as the env vars the sandboxes read.

    The same values configure the Airflow connections, so both sides agree
    without a secret ever being written into the repository.
    """
    tenant_ids = list(dict.fromkeys(tenants))
    if not tenant_ids:
        raise ValueError("generate_secrets needs at least one tenant")

    def token() -> str:
        return secrets.token_urlsafe(32)

    return {
        "SANDBOX_REGISTRY_CLIENTS": json.dumps({REGISTRY_CLIENT_ID: {"secret": token(), "tenants": tenant_ids}}),
        "SANDBOX_HRIS_TOKENS": json.dumps({t: token() for t in tenant_ids}),
        "SANDBOX_LRS_CREDENTIALS": json.dumps({t: [f"lrs-{t}-{secrets.token_hex(4)}", token()] for t in tenant_ids}),
        "SANDBOX_LMS_TOKENS": json.dumps({t: token() for t in tenant_ids}),
        "SANDBOX_SCIM_TOKEN": token(),
        "SANDBOX_SCIM_TENANTS": ",".join(tenant_ids),
        "SANDBOX_IDP_TOKENS": json.dumps({t: token() for t in tenant_ids}),
        # Registry notifications: credsync signs with the first, the registry's reviews with the second.
        "SANDBOX_REGISTRY_NOTIFICATION_SECRET": token(),
        "SANDBOX_REGISTRY_WEBHOOK_SECRET": token(),
        # The national LRS (NELC): key -> [secret, the tenant's platform key].
        "SANDBOX_NELC_CREDENTIALS": json.dumps({f"nelc-{t}": [token(), platform]
                                                for t, platform in nelc_platforms(tenant_ids).items()}),
        # The talent marketplace: one OAuth client per tenant, with the secret credsync signs its events
        # with; the marketplace signs its webhooks to the tenant with the second secret.
        "SANDBOX_MARKETPLACE_CLIENTS": json.dumps({
            marketplace_client_id(t): {"secret": token(), "signing_secret": token(), "tenant": t,
                                       "scopes": list(MARKETPLACE_SCOPES)} for t in tenant_ids}),
        "SANDBOX_MARKETPLACE_WEBHOOK_SECRETS": json.dumps({t: token() for t in tenant_ids}),
    }


def marketplace_client_id(tenant_id: str) -> str:
    """The marketplace OAuth client of a tenant, e.g. ``mkt-acme``."""
    return f"mkt-{tenant_id}"


def nelc_platforms(tenant_ids: Iterable[str]) -> dict[str, str]:
    """Each tenant's NELC platform key: its national profile's, else one of the same form."""
    try:
        from credsync.national_profile import profile_of
        from credsync.tenants import load_tenants

        known = {t.tenant_id: p.platform for t in load_tenants(enabled_only=False) if (p := profile_of(t))}
    except Exception:  # a checkout without tenants or the national profile: the sandbox still starts
        known = {}
    return {t: known.get(t, f"{t[:4].upper()}-001") for t in tenant_ids}


def write_secrets(path: Path, env: Mapping[str, str]) -> None:
    """Write ``KEY='value'`` lines readable by docker compose and ``set -a; . file``; mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# credsync sandbox credentials for this data dir. Generated; do not commit."]
    for key, value in env.items():
        if "'" in value or "\n" in value:
            raise ValueError(f"{key}: value cannot be written single-quoted")
        lines.append(f"{key}='{value}'")
    # Create with 0600 from the start so the secrets are never world-readable, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)


def read_secrets(path: Path) -> dict[str, str]:
    """Read a file written by :func:`write_secrets`."""
    env: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path}:{number}: expected KEY='value'")
        if len(value) >= 2 and value[0] == value[-1] == "'":
            value = value[1:-1]
        env[key.strip()] = value
    return env


def app_module(name: str) -> str:
    return f"sandbox.{name}.app"


def available_sandboxes(names: Iterable[str] = SANDBOXES) -> list[str]:
    """The sandboxes whose ``sandbox/<name>/app.py`` exists in this checkout."""
    return [n for n in names if (REPO_ROOT / "sandbox" / n / "app.py").is_file()]


@dataclass
class SandboxSet:
    """Running sandboxes: where they listen, their pids, and how to stop them.

    ``env`` holds the credentials the sandboxes were started with, for tests
    and for building Airflow connections; it is never written to
    ``sandboxes.json``.
    """

    data_dir: Path
    ports: dict[str, int]
    pids: dict[str, int]
    env: dict[str, str] = field(default_factory=dict)
    host: str = HOST
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict, repr=False)

    def url(self, name: str) -> str:
        """Base URL of a sandbox, e.g. ``http://127.0.0.1:18704``."""
        if name not in self.ports:
            raise KeyError(f"sandbox {name!r} is not running in this set (running: {sorted(self.ports)})")
        return f"http://{self.host}:{self.ports[name]}"

    def admin(self, name: str) -> str:
        """Base URL of a sandbox's admin endpoints (no auth, loopback only)."""
        return f"{self.url(name)}/admin"

    def log_path(self, name: str) -> Path:
        return self.data_dir / "logs" / f"{name}.log"

    def state_path(self) -> Path:
        return self.data_dir / STATE_FILE

    def save(self) -> Path:
        """Record host, ports and pids (no secrets) in ``<data_dir>/sandboxes.json``."""
        path = self.state_path()
        path.write_text(
            json.dumps({"host": self.host, "ports": self.ports, "pids": self.pids}, indent=2) + "\n",
            encoding="utf-8",
        )
        return path

    @classmethod
    def load(cls, data_dir: Path) -> SandboxSet:
        """The set recorded by :meth:`save`; raises FileNotFoundError if none is."""
        raw = json.loads((data_dir / STATE_FILE).read_text(encoding="utf-8"))
        return cls(
            data_dir=data_dir,
            ports={k: int(v) for k, v in raw["ports"].items()},
            pids={k: int(v) for k, v in raw["pids"].items()},
            host=raw.get("host", HOST),
        )

    def running(self) -> dict[str, bool]:
        """For each sandbox: is its recorded process still alive (and still a sandbox)?"""
        return {name: self._alive(name) for name in self.pids}

    def healthy(self, name: str, timeout: float = 2.0) -> bool:
        return _health_ok(self.url(name), timeout)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM every sandbox's process group, SIGKILL what remains after ``grace`` seconds."""
        targets = [name for name in self.pids if self._alive(name)]
        for name in targets:
            _signal_group(self.pids[name], signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(self._alive(n) for n in targets):
            time.sleep(0.05)
        for name in targets:
            if self._alive(name):
                _signal_group(self.pids[name], signal.SIGKILL)
        for name in targets:
            self._reap(name, timeout=grace)
        state = self.state_path()
        if state.exists() and _recorded_pids(state) == self.pids:
            state.unlink()

    def _alive(self, name: str) -> bool:
        process = self._processes.get(name)
        if process is not None:
            return process.poll() is None
        # A set loaded from sandboxes.json: make sure the pid was not reused by something else.
        return _is_sandbox_process(self.pids[name], name)

    def _reap(self, name: str, timeout: float) -> None:
        process = self._processes.get(name)
        if process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=timeout)
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _is_sandbox_process(self.pids[name], name):
            time.sleep(0.05)

    def __enter__(self) -> SandboxSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_all(
    data_dir: Path,
    *,
    env: Mapping[str, str],
    ports: Mapping[str, int | None] | None = None,
    names: Iterable[str] = SANDBOXES,
    timeout: float = 30,
) -> SandboxSet:
    """Start the named sandboxes and wait until every ``/health`` answers 200.

    ``ports`` maps a sandbox to its port; a missing entry, ``None`` or ``0``
    means a free port picked now. On any failure every sandbox already
    started is stopped and :class:`SandboxStartError` names the culprit.
    """
    data_dir = Path(data_dir).resolve()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    names = list(names)
    unknown = [n for n in names if n not in SANDBOXES]
    if unknown:
        raise SandboxStartError(f"unknown sandbox(es) {unknown}; known: {list(SANDBOXES)}")
    missing = [n for n in names if n not in available_sandboxes(names)]
    if missing:
        raise SandboxStartError(
            f"sandbox(es) {missing} have no app module (expected sandbox/<name>/app.py under {REPO_ROOT})"
        )

    chosen = _choose_ports(names, ports or {})
    child_env = _child_env(data_dir, env)
    sandbox_set = SandboxSet(data_dir=data_dir, ports=chosen, pids={}, env=dict(env))
    try:
        for name in names:
            process = _spawn(name, chosen[name], child_env, sandbox_set.log_path(name))
            sandbox_set._processes[name] = process
            sandbox_set.pids[name] = process.pid
        _wait_healthy(sandbox_set, names, timeout)
    except BaseException:
        sandbox_set.stop(grace=2.0)
        raise
    return sandbox_set


def _choose_ports(names: list[str], requested: Mapping[str, int | None]) -> dict[str, int]:
    chosen: dict[str, int] = {}
    for name in names:
        port = requested.get(name)
        if port:
            if not _port_free(port):
                raise SandboxStartError(f"sandbox {name!r}: port {port} on {HOST} is already in use")
            chosen[name] = port
        else:
            chosen[name] = _free_port()
    return chosen


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def _child_env(data_dir: Path, env: Mapping[str, str]) -> dict[str, str]:
    child = {**os.environ, **env, "SANDBOX_DATA_DIR": str(data_dir)}
    # `sandbox` is imported from the repo root, wherever the caller runs from.
    child["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
    child["PYTHONUNBUFFERED"] = "1"
    return child


def _spawn(name: str, port: int, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        f"{app_module(name)}:create_app",
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
    ]
    with log_path.open("ab") as log:
        log.write(f"\n--- starting {name} on {HOST}:{port}: {' '.join(command)}\n".encode())
        log.flush()
        # Own session/process group: stop() can signal uvicorn and anything it forks at once.
        return subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _wait_healthy(sandbox_set: SandboxSet, names: list[str], timeout: float) -> None:
    pending = list(names)
    deadline = time.monotonic() + timeout
    while pending:
        for name in list(pending):
            process = sandbox_set._processes[name]
            if process.poll() is not None:
                raise SandboxStartError(
                    f"sandbox {name!r} exited with code {process.returncode} before becoming healthy; "
                    f"log {sandbox_set.log_path(name)}:\n{_tail(sandbox_set.log_path(name))}"
                )
            if _health_ok(sandbox_set.url(name), timeout=1.0):
                pending.remove(name)
        if pending and time.monotonic() > deadline:
            name = pending[0]
            log = sandbox_set.log_path(name)
            raise SandboxStartError(
                f"sandbox {name!r} did not answer GET /health within {timeout:.0f}s "
                f"(still waiting for {pending}); log {log}:\n{_tail(log)}"
            )
        if pending:
            time.sleep(0.1)


def _health_ok(base_url: str, timeout: float) -> bool:
    try:
        # base_url is http://127.0.0.1:<port>, built here, never user input.
        with urllib.request.urlopen(f"{base_url}/health", timeout=timeout) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(text.splitlines()[-lines:])


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _is_sandbox_process(pid: int, name: str) -> bool:
    """True if ``pid`` is alive, not a zombie, and runs this sandbox's uvicorn app."""
    proc = Path("/proc") / str(pid)
    if not Path("/proc").is_dir():
        # No procfs (macOS): liveness only; the pid-reuse guard needs Linux.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        status = (proc / "stat").read_text().split(") ", 1)[1][:1]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return status != "Z" and f"{app_module(name)}:create_app" in cmdline


def _recorded_pids(state: Path) -> dict[str, int]:
    try:
        return {k: int(v) for k, v in json.loads(state.read_text(encoding="utf-8"))["pids"].items()}
    except (OSError, ValueError, KeyError):
        return {}
