"""The local pipeline environment behind ``make demo`` and the end-to-end tests.

:func:`demo_environment` starts (or reuses) a Postgres, starts the sandboxes,
prepares an Airflow home and migrates the warehouse through its Airflow
connection (the deploy step ``python -m credsync.warehouse migrate``, as a
deployment runs it), all under one build directory; the :class:`DemoEnvironment` it yields runs DAGs with
``airflow dags test`` against them. Leaving the block stops the sandboxes and
the embedded Postgres.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from credsync.credentials.issuers import tenant_issuer_did
from credsync.paths import PROJECT_ROOT
from credsync_dev.localenv import dag_batch
from credsync_dev.localenv.airflow_env import (
    airflow_base_env,
    sandbox_connections_env,
    warehouse_connection_env,
)
from credsync_dev.localenv.postgres import ensure_server
from credsync_dev.localenv.secrets import load_or_create_secrets

if TYPE_CHECKING:
    from credsync.tenants import Tenant
    from sandbox.launcher import SandboxSet

# Dependency order: each DAG consumes what the one before it loaded.
PIPELINE = (
    "hris_delta_export",
    "scim_provisioning",
    "lms_completion_pull",
    "credential_issuance",
    "registry_push",
    "national_lrs",
    "marketplace_sync",
    "hris_writeback",
    "recertification",
    "career_path_eligibility",
    "reconciliation",
)
# Workers per tenant the HRIS sandbox seeds (and the LRS builds learning history for). ``live``:
# CPR passes of the quarter hour before the LRS first starts (sandbox.synth.learning), so the
# clean run delivers some credentials of fresh completions and the dashboards' completion ->
# delivery latency has live values; the four-year history is a first load, not a latency.
# ``national``: the HRIS sandbox gives the tenant's workers a National ID / Iqama and an Arabic name
# (globex's national profile reads them: hris_fields in include/tenants.yaml), so national_lrs
# forwards its learning records to the national LRS sandbox.
DEMO_WORKFORCE: dict[str, dict[str, int]] = {
    "acme": {"workers": 1000, "seed": 7, "live": 24},
    "globex": {"workers": 300, "seed": 11, "live": 8, "national": True},
}


@dataclass(frozen=True)
class DagRunResult:
    """How one ``airflow dags test`` ended."""

    dag_id: str
    state: str  # success | failed
    seconds: float
    log: Path

    @property
    def succeeded(self) -> bool:
        return self.state == "success"

    def as_dict(self) -> dict[str, object]:
        return {"dag_id": self.dag_id, "state": self.state, "seconds": self.seconds, "log": str(self.log)}


@dataclass
class DemoEnvironment:
    """A running warehouse, sandboxes and Airflow home, and how to run a DAG against them.

    ``env`` is the environment of the Airflow subprocesses: it carries the
    connections (with the sandboxes' secrets) as ``AIRFLOW_CONN_*`` variables.
    """

    build_dir: Path
    warehouse_url: str
    embedded_postgres: bool
    sandboxes: SandboxSet
    tenants: list[Tenant]
    secrets: dict[str, str] = field(repr=False)
    env: dict[str, str] = field(repr=False)
    say: Callable[[str], None] = print

    @property
    def demo_dir(self) -> Path:
        return self.build_dir / "demo"

    @property
    def log_dir(self) -> Path:
        return self.demo_dir / "logs"

    def run_dag(self, dag_id: str, *, conf: Mapping[str, Any] | None = None,
                log_name: str | None = None) -> DagRunResult:
        """Run ``dag_id`` once with ``airflow dags test`` (``conf`` = the trigger form's params).

        The whole output goes to ``<build>/demo/logs/<log_name or dag_id>.log``;
        a failed run prints the end of it.
        """
        log_path = self.log_dir / f"{log_name or dag_id}.log"
        command = [sys.executable, "-m", "airflow", "dags", "test", dag_id]
        if conf:
            command += ["--conf", json.dumps(dict(conf))]
        self.say(f"running {dag_id} ...")
        start = time.monotonic()
        code = _run(command, self.env, log_path)
        seconds = round(time.monotonic() - start, 1)
        output = log_path.read_text(errors="replace")
        failed = code != 0 or _reports_failure(output)
        state = "failed" if failed else "success"
        self.say(f"  {dag_id}: {state} in {seconds}s (log: {shown_path(log_path)})")
        if failed:
            tail = "\n".join(output.splitlines()[-40:])
            self.say(f"  last lines of {dag_id}:\n{tail}")
        return DagRunResult(dag_id=dag_id, state=state, seconds=seconds, log=log_path)

    def run_dags(self, runs: Sequence[str | tuple[str, Mapping[str, Any]]], *, log_name: str) -> list[DagRunResult]:
        """Run DAGs in order in one Airflow process (:mod:`credsync_dev.localenv.dag_batch`), stopping at a failure.

        Each item is a DAG id or ``(dag_id, conf)``. Same runs as :meth:`run_dag`
        without the start-up per DAG; the output of all goes to
        ``<build>/demo/logs/<log_name>.log``. Returns one result per DAG that ran.
        """
        items = [{"dag_id": r, "conf": None} if isinstance(r, str) else {"dag_id": r[0], "conf": dict(r[1])}
                 for r in runs]
        log_path = self.log_dir / f"{log_name}.log"
        self.say(f"running {', '.join(i['dag_id'] for i in items)} in one process ...")
        _run([sys.executable, "-m", "credsync_dev.localenv.dag_batch", json.dumps(items)], self.env, log_path)
        results: list[DagRunResult] = []
        segment: list[str] = []
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith(dag_batch.START):
                segment = []
            elif line.startswith(dag_batch.END):
                ended = json.loads(line[len(dag_batch.END):])
                output = "\n".join(segment)
                failed = ended["state"] != "success" or _reports_failure(output)
                results.append(DagRunResult(dag_id=ended["dag_id"], state="failed" if failed else "success",
                                            seconds=ended["seconds"], log=log_path))
                self.say(f"  {ended['dag_id']}: {results[-1].state} in {ended['seconds']}s")
            else:
                segment.append(line)
        if len(results) < len(items) or not results[-1].succeeded:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-40:])
            self.say(f"  last lines of {log_path}:\n{tail}")
        return results


@contextmanager
def demo_environment(
    build_dir: Path,
    *,
    workforce: Mapping[str, Mapping[str, int]] = DEMO_WORKFORCE,
    temporary_database: bool = False,
    say: Callable[[str], None] = print,
) -> Iterator[DemoEnvironment]:
    """Warehouse, sandboxes and Airflow home under ``build_dir``, for the duration of the block.

    Postgres is ``CREDSYNC_DATABASE_URL`` when set and reachable, else the
    embedded one under ``<build_dir>/pgdata``. Secrets, sandbox state and logs
    go to ``<build_dir>/demo/``, the Airflow home to ``<build_dir>/airflow``;
    the Airflow subprocesses get ``CREDSYNC_BUILD_DIR=<build_dir>``, so what
    the DAGs write under the build directory (payroll CSVs) lands there too.
    Re-entering with the same ``build_dir`` reuses all of it.

    ``workforce`` is what the sandboxes seed per tenant; ``temporary_database``
    puts the warehouse in a new database (on either server) dropped on exit,
    so a test starts empty even against a shared ``CREDSYNC_DATABASE_URL``.
    """
    from credsync.tenants import load_tenants
    from sandbox.launcher import start_all

    build_dir = Path(build_dir)
    demo_dir = build_dir / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    server = ensure_server(build_dir / "pgdata")
    database = server.temporary_database_name("credsync_e2e") if temporary_database else None
    try:
        if database:
            url = server.create_database(database)
        else:
            url = server.create_database("credsync") if server.embedded else server.url
        where = f"embedded Postgres under {shown_path(build_dir / 'pgdata')}" if server.embedded \
            else "CREDSYNC_DATABASE_URL"
        say(f"warehouse: {where}" + (f", temporary database {database}" if database else ""))

        tenants = load_tenants()
        secrets = load_or_create_secrets(demo_dir / "secrets.env", [t.tenant_id for t in tenants])
        # The issuers' web origin (DID documents, status lists) and the registry's trust list naming them.
        issuer_base = _start_issuer_origin(build_dir / "objects" / "did-web", say)
        trusted = ",".join(tenant_issuer_did(t.tenant_id, issuer_base) for t in tenants)
        sandbox_env = {**secrets, "SANDBOX_SEED": json.dumps({"tenants": dict(workforce)}),
                       "SANDBOX_REGISTRY_TRUSTED_ISSUERS": trusted}
        with start_all(demo_dir / "sandbox", env=sandbox_env) as running:
            say("sandboxes: " + ", ".join(f"{n} {running.url(n)}" for n in sorted(running.ports)))
            env = {
                **os.environ,
                **airflow_base_env(build_dir / "airflow"),
                **warehouse_connection_env(url),
                **sandbox_connections_env(tenants, {n: running.url(n) for n in running.ports}, secrets),
                "AIRFLOW_CONN_CREDSYNC_SIGNING_KEY": secrets["CREDSYNC_SIGNING_CONN"],
                "AIRFLOW_CONN_CREDSYNC_AUDIT_CHECKPOINT_KEY": secrets["CREDSYNC_AUDIT_CHECKPOINT_CONN"],
                "AIRFLOW_CONN_CREDSYNC_PSEUDONYM_KEY": secrets["CREDSYNC_PSEUDONYM_KEY_CONN"],
                "CREDSYNC_OBJECT_STORE": f"file://{build_dir / 'objects'}",
                # The HRIS sandbox drops its CSV exports here: the share hris_delta_export's
                # source=filedrop reads (credsync.people.filedrop).
                "CREDSYNC_HRIS_DROP": f"file://{demo_dir / 'sandbox' / 'hris_drop'}",
                "CREDSYNC_ISSUER_BASE_URL": issuer_base,
                "CREDSYNC_BUILD_DIR": str(build_dir),
            }
            _prepare_airflow(env, demo_dir / "logs", say)
            _migrate_warehouse(env, demo_dir / "logs", say)
            yield DemoEnvironment(build_dir=build_dir, warehouse_url=url, embedded_postgres=server.embedded,
                                  sandboxes=running, tenants=tenants, secrets=secrets, env=env, say=say)
    finally:
        if database:
            server.drop_database(database)
        server.stop()


def _start_issuer_origin(root: Path, say: Callable[[str], None]) -> str:
    """Serve the did-web folder on loopback (a fixed port keeps the issuer DIDs stable across runs)."""
    from sandbox.issuer_web.server import start

    port = int(os.environ.get("CREDSYNC_DEMO_ISSUER_PORT", "8089"))
    try:
        server = start(root, port=port)
    except OSError:
        server = start(root)  # the port is taken: this run's issuer DIDs name another one
    base = f"http://localhost:{server.server_address[1]}"
    say(f"issuer web origin: {base} (serving {shown_path(root)})")
    return base


def shown_path(path: Path) -> Path:
    """``path`` relative to the project root when it lies inside it (as the demo prints it)."""
    try:
        return path.relative_to(PROJECT_ROOT)
    except ValueError:
        return path


def _reports_failure(output: str) -> bool:
    """`airflow dags test` can exit 0 for a failed run; its log says so."""
    return "state=failed" in output or "DagRunState.FAILED" in output


def _prepare_airflow(env: dict[str, str], log_dir: Path, say: Callable[[str], None]) -> None:
    airflow = [sys.executable, "-m", "airflow"]
    say("airflow: migrating the metadata database (first run takes a minute)")
    _check([*airflow, "db", "migrate"], env, log_dir / "airflow-db-migrate.log")
    # Pools, and the connections as metadata rows so `airflow connections list` and the UI show them.
    _check([sys.executable, "-m", "credsync_dev.localenv.metadata"], env, log_dir / "airflow-metadata.log")


def _migrate_warehouse(env: dict[str, str], log_dir: Path, say: Callable[[str], None]) -> None:
    """The deploy step, as a deployment runs it: the documented command against the Airflow connection."""
    log_path = log_dir / "warehouse-migrate.log"
    _check([sys.executable, "-m", "credsync.warehouse", "migrate", "--conn-id", "credsync_warehouse"], env, log_path)
    lines = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    say(f"deploy step `python -m credsync.warehouse migrate`: {lines[-1] if lines else 'done'}")


def _check(cmd: list[str], env: dict[str, str], log_path: Path) -> None:
    if _run(cmd, env, log_path) != 0:
        raise SystemExit(f"{' '.join(cmd[2:])} failed; see {log_path}")


def _run(cmd: list[str], env: dict[str, str], log_path: Path) -> int:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log:
        return subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, check=False).returncode
