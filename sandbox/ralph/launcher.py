"""The real Ralph LRS (ralph-malph, PyPI) for tests and local runs: its own venv, one process.

Ralph pins a FastAPI/uvicorn stack credsync does not use, so it never goes into credsync's
virtualenv. :func:`ensure_venv` creates ``build/ralph-venv`` on first use from the exact pins
in ``sandbox/ralph/requirements.txt`` (reused while they are unchanged: a stamp holds their
sha256), and :func:`start_ralph` runs ``sandbox/ralph/serve.py`` with that interpreter on a
free loopback port. One Ralph user per tenant (HTTP Basic key/secret, its own storage
target), so a tenant is chosen by its credentials: the base URL is the same for every
tenant (``http://127.0.0.1:<port>/xAPI/``), as with any hosted LRS.

Plain Python (standard library only): usable from a pytest fixture, ``python -m sandbox.ralph``
and scripts alike.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

RALPH_DIR = Path(__file__).resolve().parent
REPO_ROOT = RALPH_DIR.parents[1]
REQUIREMENTS = RALPH_DIR / "requirements.txt"
SERVE_SCRIPT = RALPH_DIR / "serve.py"
DEFAULT_VENV = REPO_ROOT / "build" / "ralph-venv"
STAMP = ".credsync-requirements.sha256"
HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
INSTALL_TIMEOUT_S = 900


class RalphError(RuntimeError):
    """Ralph could not be installed or did not come up; the message says where to look."""


def requirements_digest(path: Path = REQUIREMENTS) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ensure_venv(venv: Path = DEFAULT_VENV, *, python: str | None = None) -> Path:
    """The Python of a virtualenv holding exactly ``requirements.txt``; created or rebuilt if needed.

    Safe to call from several processes at once (a file lock next to the venv): one installs,
    the others wait and reuse it.
    """
    venv = venv.resolve()
    interpreter = venv / "bin" / "python"
    digest = requirements_digest()
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = venv / STAMP
        if interpreter.exists() and stamp.exists() and stamp.read_text().strip() == digest:
            return interpreter
        base = python or _base_python()
        _run([base, "-m", "venv", "--clear", str(venv)], "creating the Ralph virtualenv")
        # --no-deps: the file is the complete resolved set; pip check proves nothing is missing.
        _run([str(interpreter), "-m", "pip", "install", "--quiet", "--no-deps", "-r", str(REQUIREMENTS)],
             f"installing {REQUIREMENTS.relative_to(REPO_ROOT)}")
        _run([str(interpreter), "-m", "pip", "check"], "checking the Ralph virtualenv")
        stamp.write_text(digest + "\n")
    return interpreter


def _base_python() -> str:
    """A Python 3.11 to build the venv from: this interpreter if it is 3.11, else python3.11 on PATH."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = shutil.which("python3.11")
    if not found:
        raise RalphError("Ralph's venv needs Python 3.11 (python3.11 not found on PATH)")
    return found


def _run(command: list[str], what: str) -> None:
    # PIP_CONSTRAINT from the environment would apply credsync's constraints to Ralph's venv.
    env = {k: v for k, v in os.environ.items() if k not in ("PIP_CONSTRAINT", "VIRTUAL_ENV", "PYTHONPATH")}
    result = subprocess.run(command, capture_output=True, text=True, env=env,
                            timeout=INSTALL_TIMEOUT_S, check=False)
    if result.returncode != 0:
        raise RalphError(f"{what} failed ({' '.join(command[:4])} ...):\n"
                         f"{result.stdout[-2000:]}{result.stderr[-4000:]}")


@dataclass
class RalphServer:
    """One running Ralph: ``base_url`` is the xAPI endpoint, ``users`` {tenant: (key, secret)}."""

    data_dir: Path
    port: int
    users: dict[str, tuple[str, str]]
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def base_url(self) -> str:
        """The xAPI base URL, with the path a real Ralph deployment has (``/xAPI/``)."""
        return f"{self.url}/xAPI/"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "ralph.log"

    def statements_file(self, tenant: str) -> Path:
        """Where Ralph's fs backend keeps ``tenant``'s statements (one JSON object per line)."""
        return self.data_dir / "statements" / tenant / "fs_lrs.jsonl"

    def healthy(self, timeout: float = 2.0) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/__heartbeat__", timeout=timeout) as response:  # noqa: S310
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, grace: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=grace)

    def state(self) -> dict[str, object]:
        """What another process needs to find and stop this server (no secrets)."""
        return {"pid": self.process.pid if self.process else None, "port": self.port, "data_dir": str(self.data_dir),
                "tenants": sorted(self.users)}

    def __enter__(self) -> RalphServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def generate_users(tenants: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Fresh Basic credentials per tenant for one run (never written into the repository)."""
    return {t: (f"lrs-{t}-{secrets.token_hex(4)}", secrets.token_urlsafe(24)) for t in dict.fromkeys(tenants)}


def start_ralph(data_dir: Path, users: Mapping[str, tuple[str, str]], *, port: int = 0,
                venv: Path = DEFAULT_VENV) -> RalphServer:
    """Start Ralph (fs backend under ``data_dir/statements``) and wait until it answers."""
    interpreter = ensure_venv(venv)
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    server = RalphServer(data_dir=data_dir, port=port, users=dict(users))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(data_dir),
        "LANG": "C.UTF-8",
        "RALPH_APP_DIR": str(data_dir / "app"),
        "RALPH_AUTH_FILE": str(data_dir / "auth.json"),
        "RALPH_RUNSERVER_BACKEND": "fs",
        "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(data_dir / "statements"),
        "RALPH_HISTORY_FILE": str(data_dir / "history.json"),
        "CREDSYNC_RALPH_HOST": HOST,
        "CREDSYNC_RALPH_PORT": str(port),
        # Ralph's username is the Basic key; its target (storage) is the tenant.
        "CREDSYNC_RALPH_USERS": json.dumps({key: {"password": secret, "target": tenant}
                                            for tenant, (key, secret) in users.items()}),
    }
    log = open(server.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
    try:
        # cwd = data_dir: Ralph reads a .env from its working directory; the repository's must not apply.
        server.process = subprocess.Popen(
            [str(interpreter), str(SERVE_SCRIPT)], cwd=data_dir, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RalphError(f"Ralph exited with {server.process.returncode}; log {server.log_path}:\n"
                             f"{_tail(server.log_path)}")
        if server.healthy(timeout=1.0):
            return server
        time.sleep(0.2)
    server.stop()
    raise RalphError(f"Ralph did not answer on port {port} within {START_TIMEOUT_S:.0f}s; log {server.log_path}:\n"
                     f"{_tail(server.log_path)}")


@contextlib.contextmanager
def running_ralph(data_dir: Path, tenants: Iterable[str], **kwargs: object) -> Iterator[RalphServer]:
    """Ralph with fresh credentials for ``tenants``, stopped on exit."""
    server = start_ralph(data_dir, generate_users(tenants), **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
