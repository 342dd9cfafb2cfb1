"""A real Airflow 3 CeleryExecutor deployment on one machine, as separate processes.

Redis as broker, a Postgres database of its own as metadata DB (and Celery
result backend), one api-server (the Execution API the workers report to), a
scheduler, a dag-processor and N Celery workers. Every worker has its own
working directory, temp dir, Airflow home and ``CREDSYNC_BUILD_DIR``: a task
that left a file on one worker's disk for another task would not find it.
What every component shares is what a real deployment shares: the code (the
image), the metadata DB, the broker, the warehouse, the object store and the
task log folder (the compose file's ``airflow-logs`` volume).

Every component runs in its own session (process group), so a worker can be
killed as a whole, the way a machine dies: :meth:`CeleryCluster.kill_worker`.
"""

from __future__ import annotations

import contextlib
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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil

HOST = "127.0.0.1"
SHARED_REDIS = "redis://127.0.0.1:6379/0"
# Short enough for a test, long enough that a busy 2-core machine does not declare live tasks dead:
# a task's supervisor heartbeats every [workers] min_heartbeat_interval (5 s).
FAST_FAILURE_DETECTION = {
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
}


# The layout docker-compose.yaml deploys too (tests/unit/test_compose.py holds it to this): the
# components by their `airflow` sub-command, how many workers, and the settings every component needs.
COMPONENTS = {"api-server": "api-server", "scheduler": "scheduler", "dag-processor": "dag-processor",
              "worker": "celery worker"}
WORKERS = 2
DEPLOYMENT_SETTINGS = (
    "AIRFLOW__CORE__EXECUTOR",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW__API_AUTH__JWT_SECRET",
)


class BrokerUnavailable(RuntimeError):
    """Neither a ``redis-server`` binary nor a Redis on 127.0.0.1:6379."""


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path
    cwd: Path

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class CeleryCluster:
    """The running components; ``env`` is the environment they share (minus per-worker paths)."""

    root: Path
    env: dict[str, str] = field(repr=False)
    metadata_url: str
    broker_url: str
    queue: str
    api_url: str
    components: dict[str, Process] = field(default_factory=dict)
    say: Callable[[str], None] = print

    @property
    def workers(self) -> dict[str, Process]:
        return {n: p for n, p in self.components.items() if n.startswith("worker")}

    def worker_of_pid(self, pid: int) -> str | None:
        """The worker whose process tree holds ``pid`` (a task instance's ``pid``), if any."""
        for name, process in self.workers.items():
            with contextlib.suppress(psutil.NoSuchProcess):
                tree = {process.popen.pid} | {c.pid for c in psutil.Process(process.popen.pid).children(True)}
                if pid in tree:
                    return name
        return None

    def kill_worker(self, name: str) -> list[int]:
        """SIGKILL the worker ``name`` and every process under it, at once (a lost machine).

        Airflow runs each task in a process group of its own under the worker, so
        killing the worker's group alone would leave the task running: the whole
        tree is stopped first (so nothing forks meanwhile), then killed.
        """
        root = psutil.Process(self.workers[name].popen.pid)
        tree = [root, *root.children(recursive=True)]
        for proc in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGSTOP)
        tree = [root, *root.children(recursive=True)]
        for proc in tree:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.send_signal(signal.SIGKILL)
        # Reap the worker through its Popen (psutil would reap it first and hide its exit status).
        self.workers[name].popen.wait(timeout=10)
        psutil.wait_procs(tree[1:], timeout=10)
        return [p.pid for p in tree]

    def check_alive(self, *, except_: tuple[str, ...] = ()) -> None:
        dead = [n for n, p in self.components.items() if n not in except_ and not p.alive()]
        if dead:
            detail = "\n".join(f"--- {n} ({self.components[n].log}):\n{self.components[n].tail()}" for n in dead)
            raise RuntimeError(f"cluster component(s) exited: {', '.join(dead)}\n{detail}")


def sqlalchemy_url(libpq_url: str) -> str:
    """A libpq URL (TCP or ``?host=/socket/dir``) as Airflow's SQLAlchemy URL (psycopg2, as in compose)."""
    parts = urlsplit(libpq_url)
    return urlunsplit(parts._replace(scheme="postgresql+psycopg2"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextmanager
def redis_broker(work_dir: Path) -> Iterator[str]:
    """A Redis broker URL: a ``redis-server`` of our own on a free port, else the machine's 6379.

    Raises :class:`BrokerUnavailable` when there is neither (the test skips on it, except in CI).
    """
    binary = shutil.which("redis-server")
    if binary:
        port = free_port()
        work_dir.mkdir(parents=True, exist_ok=True)
        log = (work_dir / "redis.log").open("w")
        server = subprocess.Popen(
            [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
             "--dir", str(work_dir)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_for(lambda: _redis_ping(HOST, port), 20, f"redis-server on port {port} (log {work_dir}/redis.log)")
            yield f"redis://{HOST}:{port}/0"
        finally:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=10)
            log.close()
        return
    if _redis_ping(HOST, 6379):
        yield SHARED_REDIS
        return
    raise BrokerUnavailable("the distributed run needs Redis as Celery broker: no `redis-server` binary on PATH "
                            "and nothing answering on 127.0.0.1:6379 (apt-get install -y redis-server)")


@contextmanager
def celery_cluster(
    root: Path,
    base_env: Mapping[str, str],
    *,
    metadata_url: str,
    broker_url: str,
    workers: int = WORKERS,
    concurrency: int = 2,
    say: Callable[[str], None] = print,
) -> Iterator[CeleryCluster]:
    """Start api-server, scheduler, dag-processor and ``workers`` Celery workers under ``root``.

    ``base_env`` is the demo environment (connections, DAG folder, warehouse);
    ``metadata_url`` a libpq URL of an empty database, migrated here. Scheduled
    and asset-triggered runs are off (``use_job_schedule``): the caller triggers
    the runs it wants, in its order. Leaving the block stops every component.
    """
    root.mkdir(parents=True, exist_ok=True)
    api_port = free_port()
    # A queue of this cluster's own: a broker shared with another run never hands our tasks to its workers.
    queue = f"credsync-{secrets.token_hex(4)}"
    metadata = sqlalchemy_url(metadata_url)
    env = {
        **base_env,
        "AIRFLOW_HOME": str(root / "airflow-home"),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + metadata,
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": queue,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{HOST}:{api_port}/execution/",
        # Every component signs and checks task tokens with the same secret (compose: AIRFLOW_JWT_SECRET).
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__WORKERS": "1",
        # Loopback only, for the person watching `make celery-run`: no login page.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(root / "task-logs"),
        **FAST_FAILURE_DETECTION,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    cluster = CeleryCluster(root=root, env=env, metadata_url=metadata_url, broker_url=broker_url, queue=queue,
                            api_url=f"http://{HOST}:{api_port}", say=say)
    airflow = [sys.executable, "-m", "airflow"]
    try:
        say("celery cluster: migrating its metadata database")
        _check([*airflow, "db", "migrate"], env, root / "logs" / "db-migrate.log")
        for name in ("api-server", "scheduler", "dag-processor"):
            cluster.components[name] = _start(name, [*airflow, *COMPONENTS[name].split()], env, root)
        for index in range(1, workers + 1):
            name = f"worker{index}"
            home = root / name
            worker_env = {
                **env,
                "AIRFLOW_HOME": str(home / "airflow-home"),
                "CREDSYNC_BUILD_DIR": str(home / "build"),
                "TMPDIR": str(home / "tmp"),
            }
            (home / "tmp").mkdir(parents=True, exist_ok=True)
            command = [*airflow, *COMPONENTS["worker"].split(), "--queues", queue, "--concurrency", str(concurrency),
                       "--celery-hostname", f"{name}@%h", "--skip-serve-logs"]
            cluster.components[name] = _start(name, command, worker_env, root, cwd=home / "cwd")
        _wait_for(lambda: _http_ok(f"{cluster.api_url}/api/v2/monitor/health"), 180, "the api-server",
                  cluster.check_alive)
        say(f"celery cluster: api-server {cluster.api_url}, broker {broker_url}, queue {queue}, "
            f"{workers} workers x {concurrency}")
        yield cluster
    finally:
        for process in reversed(list(cluster.components.values())):
            _stop(process)


def _start(name: str, command: list[str], env: Mapping[str, str], root: Path, *, cwd: Path | None = None) -> Process:
    cwd = cwd or root / name
    cwd.mkdir(parents=True, exist_ok=True)
    log = root / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        popen = subprocess.Popen(command, env=dict(env), cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    return Process(name=name, popen=popen, log=log, cwd=cwd)


def _stop(process: Process) -> None:
    """SIGTERM the component's group (a warm shutdown), then SIGKILL whatever is left of its tree."""
    if process.alive():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.popen.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.popen.wait(timeout=30)
    with contextlib.suppress(psutil.NoSuchProcess):
        for child in psutil.Process(process.popen.pid).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.popen.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.popen.wait(timeout=10)


def _check(command: list[str], env: Mapping[str, str], log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle:
        code = subprocess.run(command, env=dict(env), stdout=handle, stderr=subprocess.STDOUT, check=False).returncode
    if code != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"{' '.join(command[2:])} failed (log {log}):\n{tail}")


def _wait_for(ready: Callable[[], bool], seconds: float, what: str, check: Callable[[], None] | None = None) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready():
            return
        if check:
            check()
        time.sleep(1)
    raise TimeoutError(f"{what} not ready after {seconds:.0f}s")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 (loopback URL we built)
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _redis_ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False
