"""docker-compose.yaml is wired correctly, checked without a Docker engine."""

from __future__ import annotations

import copy
import json
import re
import shlex
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from sandbox.launcher import DEFAULT_PORTS, SANDBOXES
from tests.distributed import cluster

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
ENV_EXAMPLE = ROOT / ".env.example"
AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
)
MOUNTED_CODE = ("dags", "plugins", "include", "great_expectations", "sandbox")
# ${VAR}, ${VAR:-default}, ${VAR:?err}; $$ escapes a literal dollar.
VARIABLE = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip("'")
    return values


@pytest.fixture(scope="module")
def compose_spec() -> jsonschema.protocols.Validator:
    """The published Compose-spec schema, as vendored (with its licence) by check-jsonschema."""
    schema = json.loads(files("check_jsonschema.builtin_schemas.vendor").joinpath("compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)
    validator.check_schema(schema)
    return validator(schema, format_checker=validator.FORMAT_CHECKER)


def _depends_on(service: dict[str, Any]) -> list[str]:
    depends = service.get("depends_on") or []
    return list(depends) if isinstance(depends, dict | list) else []


def _volumes(service: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            pairs.append((str(entry.get("source", "")), str(entry["target"])))
        else:
            source, _, rest = str(entry).partition(":")
            pairs.append((source, rest.split(":")[0]))
    return pairs


def _is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~", "$"))


def _connection_ids() -> set[str]:
    tenants = yaml.safe_load((ROOT / "include" / "tenants.yaml").read_text(encoding="utf-8"))["tenants"]
    ids = {conn_id for tenant in tenants for conn_id in tenant["connections"].values()}
    return ids | {"credsync_warehouse", "credsync_signing_key"}


def test_every_required_service_is_defined(services: dict[str, Any]) -> None:
    expected = {"postgres", "redis", *AIRFLOW_SERVICES, *(f"sandbox-{n}" for n in SANDBOXES)}
    assert expected <= set(services), sorted(expected - set(services))


def test_every_depends_on_names_an_existing_service(services: dict[str, Any]) -> None:
    dangling = [(name, dep) for name, svc in services.items() for dep in _depends_on(svc) if dep not in services]
    assert dangling == []


def test_every_named_volume_is_declared(compose: dict[str, Any], services: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {src for svc in services.values() for src, _ in _volumes(svc) if src and not _is_bind(src)}
    assert used, "expected named volumes for postgres data, logs and sandbox state"
    assert used <= declared, sorted(used - declared)


def test_every_bind_mounted_host_path_exists_in_the_repo(services: dict[str, Any]) -> None:
    binds = {src for svc in services.values() for src, _ in _volumes(svc) if _is_bind(src)}
    assert binds
    missing = sorted(src for src in binds if not (ROOT / src).exists())
    assert missing == []


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_airflow_services_mount_the_project_code(services: dict[str, Any], name: str) -> None:
    targets = {target: src for src, target in _volumes(services[name])}
    for folder in MOUNTED_CODE:
        assert targets.get(f"/opt/airflow/{folder}") == f"./{folder}", (name, folder)


def test_build_context_and_dockerfile_exist_and_extend_the_official_image(services: dict[str, Any]) -> None:
    builds = {(svc["build"]["context"], svc["build"]["dockerfile"]) for svc in services.values() if "build" in svc}
    assert builds == {(".", "docker/Dockerfile")}
    dockerfile = ROOT / "docker" / "Dockerfile"
    text = dockerfile.read_text(encoding="utf-8")
    assert re.search(r"^FROM apache/airflow:3\.3\.2-python3\.11(\s+AS\s+\w+)?\s*$", text, re.MULTILINE)
    assert "-r /opt/credsync/requirements.txt -c /opt/credsync/constraints.txt" in text
    for copied in ("requirements.txt", "constraints.txt"):
        assert (ROOT / copied).is_file()
        assert f"!{copied}" in (ROOT / "docker" / "Dockerfile.dockerignore").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", AIRFLOW_SERVICES)
def test_every_connection_id_has_an_airflow_conn_variable(services: dict[str, Any], name: str) -> None:
    environment = services[name]["environment"]
    missing = sorted(c for c in _connection_ids() if f"AIRFLOW_CONN_{c.upper()}" not in environment)
    assert missing == []


def test_env_example_defines_every_variable_compose_needs_with_placeholders_only(
    env_example: dict[str, str],
) -> None:
    needed = {m.group(1) for m in VARIABLE.finditer(COMPOSE.read_text(encoding="utf-8")) if not m.group(2)}
    assert needed - set(env_example) == set()
    for conn_id in _connection_ids():
        assert f"AIRFLOW_CONN_{conn_id.upper()}" in env_example
    secretish = [k for k in env_example if re.search(r"PASSWORD|SECRET|TOKEN|KEY|CONN_|CREDENTIALS|CLIENTS", k)]
    for key in secretish:
        value = env_example[key]
        assert "change-me" in value, f"{key} must hold a placeholder only"


def test_env_example_connections_point_at_the_sandbox_services(env_example: dict[str, str]) -> None:
    service_of = {"hris": "hris", "scim": "scim", "lrs": "lrs", "lms": "lrs", "registry": "registry"}
    tenants = yaml.safe_load((ROOT / "include" / "tenants.yaml").read_text(encoding="utf-8"))["tenants"]
    for tenant in tenants:
        for role, conn_id in tenant["connections"].items():
            conn = json.loads(env_example[f"AIRFLOW_CONN_{conn_id.upper()}"])
            sandbox = service_of[role]
            assert (conn["host"], conn["port"]) == (f"sandbox-{sandbox}", DEFAULT_PORTS[sandbox]), conn_id


@pytest.mark.parametrize("name", SANDBOXES)
def test_sandbox_service_runs_its_app_on_the_launcher_default_port(services: dict[str, Any], name: str) -> None:
    service = services[f"sandbox-{name}"]
    command = service["command"]
    argv = command if isinstance(command, list) else shlex.split(command)
    port = DEFAULT_PORTS[name]
    assert argv[:3] == ["python", "-m", "uvicorn"]
    assert f"sandbox.{name}.app:create_app" in argv and "--factory" in argv
    assert argv[argv.index("--port") + 1] == str(port)
    # Inside its container a sandbox must listen beyond loopback; the host side binds 127.0.0.1 only.
    assert argv[argv.index("--host") + 1] == "0.0.0.0"  # noqa: S104
    assert f"127.0.0.1:{port}:{port}" in service["ports"]
    assert f":{port}/health" in " ".join(service["healthcheck"]["test"])


def test_executor_is_celery_with_the_redis_broker(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        environment = services[name]["environment"]
        assert environment["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert re.fullmatch(r"redis://(:[^@]*@)?redis:6379/\d+", environment["AIRFLOW__CELERY__BROKER_URL"]), name
    assert services["airflow-worker"]["command"] == "celery worker"
    assert "redis" in _depends_on(services["airflow-worker"])


def test_postgres_init_script_creates_the_warehouse_database(services: dict[str, Any]) -> None:
    init_dir = ROOT / "docker" / "postgres-init"
    assert ("./docker/postgres-init", "/docker-entrypoint-initdb.d") in _volumes(services["postgres"])
    scripts = "\n".join(p.read_text(encoding="utf-8") for p in sorted(init_dir.glob("*.sql")))
    assert re.search(r"^CREATE DATABASE credsync\b", scripts, re.MULTILINE | re.IGNORECASE)


def test_compose_file_follows_the_compose_spec(compose: dict[str, Any], compose_spec) -> None:
    # `docker compose config` needs a Docker engine; the spec's own schema does not.
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in compose_spec.iter_errors(compose)]
    assert errors == []


@pytest.mark.parametrize(("path", "value", "complaint"), [
    (("services", "redis", "healthcheck", "interval"), 10, "is not of type 'string'"),
    (("services", "airflow-worker", "restart_policy"), "always", "restart_policy"),
    (("services", "airflow-worker", "depends_on", "redis", "condition"), "service_ready", "is not one of"),
])
def test_compose_spec_check_catches_what_compose_would_refuse(compose, compose_spec, path, value, complaint) -> None:
    broken = copy.deepcopy(compose)
    parent = broken
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    errors = list(compose_spec.iter_errors(broken))
    messages = []
    while errors:  # a oneOf/anyOf failure carries the reasons of each branch in .context
        error = errors.pop()
        messages.append(error.message)
        errors.extend(error.context or [])
    assert any(complaint in m for m in messages), messages


def test_compose_runs_the_components_the_distributed_test_runs(services: dict[str, Any]) -> None:
    """docker-compose.yaml and tests/distributed deploy the same layout (tests.distributed.cluster)."""
    commands = {svc.get("command") for svc in services.values() if isinstance(svc.get("command"), str)}
    assert set(cluster.COMPONENTS.values()) <= commands
    assert services["airflow-worker"]["deploy"]["replicas"] == cluster.WORKERS
    for name in AIRFLOW_SERVICES:
        environment = services[name]["environment"]
        missing = [k for k in cluster.DEPLOYMENT_SETTINGS if not environment.get(k)]
        assert missing == [], name
        assert environment["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].endswith("/execution/"), name
        assert environment["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql"), name
