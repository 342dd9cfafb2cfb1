"""The sandbox launcher: sandboxes come up healthy, fail loudly by name, and leave no process behind."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from sandbox.launcher import (
    DEFAULT_PORTS,
    REPO_ROOT,
    SANDBOXES,
    SandboxSet,
    SandboxStartError,
    available_sandboxes,
    generate_secrets,
    read_secrets,
    start_all,
)

TENANTS = ["acme", "globex"]


def _gone(pid: int) -> bool:
    """True once a pid no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state == "Z"


@pytest.mark.parametrize("name", SANDBOXES)
def test_every_sandbox_has_an_app_module(name: str) -> None:
    assert name in available_sandboxes(), f"sandbox/{name}/app.py is missing"


def test_default_ports_follow_the_architecture_contract() -> None:
    assert DEFAULT_PORTS == {"registry": 18701, "hris": 18702, "lrs": 18703, "scim": 18704, "idp": 18705,
                             "nelc": 18706, "marketplace": 18707}
    assert tuple(DEFAULT_PORTS) == SANDBOXES


def test_generated_secrets_are_fresh_and_shaped_for_each_sandbox() -> None:
    first, second = generate_secrets(TENANTS), generate_secrets(TENANTS)
    assert first["SANDBOX_SCIM_TOKEN"] != second["SANDBOX_SCIM_TOKEN"]
    assert first["SANDBOX_SCIM_TENANTS"] == "acme,globex"
    clients = json.loads(first["SANDBOX_REGISTRY_CLIENTS"])
    assert clients["credsync"]["tenants"] == TENANTS and len(clients["credsync"]["secret"]) >= 32
    for key in ("SANDBOX_HRIS_TOKENS", "SANDBOX_LMS_TOKENS", "SANDBOX_LRS_CREDENTIALS", "SANDBOX_IDP_TOKENS"):
        assert sorted(json.loads(first[key])) == TENANTS, key
    key, secret = json.loads(first["SANDBOX_LRS_CREDENTIALS"])["acme"]
    assert key != secret and len(secret) >= 32


def test_start_all_reaches_health_and_stop_leaves_no_process(tmp_path: Path) -> None:
    names = available_sandboxes()
    env = generate_secrets(TENANTS)
    with start_all(tmp_path, env=env, names=names) as running:
        pids = dict(running.pids)
        assert sorted(running.ports) == sorted(names)
        assert len(set(running.ports.values())) == len(names)
        for name in names:
            response = httpx2.get(f"{running.url(name)}/health", timeout=5)
            assert response.status_code == 200, name
            assert response.json()["status"] == "ok"
            assert running.log_path(name).is_file()
        assert running.env == env
    assert all(_gone(pid) for pid in pids.values()), pids
    for name in names:
        with pytest.raises(httpx2.TransportError):
            httpx2.get(f"http://127.0.0.1:{running.ports[name]}/health", timeout=2)


def test_a_sandbox_that_crashes_at_start_is_named_with_its_log(tmp_path: Path) -> None:
    # An empty token also overrides one the developer may have exported.
    env = {**generate_secrets(TENANTS), "SANDBOX_SCIM_TOKEN": ""}
    with pytest.raises(SandboxStartError) as failure:
        start_all(tmp_path, env=env, names=["scim"], timeout=20)
    message = str(failure.value)
    assert "sandbox 'scim' exited" in message
    assert "SANDBOX_SCIM_TOKEN is not set" in message  # the tail of scim.log


def test_a_taken_port_is_reported_with_the_sandbox_name(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        with pytest.raises(SandboxStartError, match=rf"sandbox 'scim': port {taken} .* in use"):
            start_all(tmp_path, env=generate_secrets(TENANTS), ports={"scim": taken}, names=["scim"])


def test_missing_app_module_is_reported_before_anything_starts(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("sandbox.launcher.available_sandboxes", lambda names: [])
    with pytest.raises(SandboxStartError, match=r"\['scim'\] have no app module"):
        start_all(tmp_path, env=generate_secrets(TENANTS), names=["scim"])


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sandbox", *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_cli_up_status_down_round_trip_without_printing_secrets(tmp_path: Path) -> None:
    data_dir = tmp_path / "sbx"
    up = _cli("up", "--data-dir", str(data_dir), "--only", "scim", "--port", "scim=0")
    try:
        assert up.returncode == 0, up.stderr
        secrets_file = data_dir / "secrets.env"
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
        secrets = read_secrets(secrets_file)
        assert secrets["SANDBOX_SCIM_TENANTS"] == "acme,globex"
        assert all(value not in up.stdout + up.stderr for value in secrets.values() if len(value) > 20)
        assert str(secrets_file) in up.stdout

        recorded = SandboxSet.load(data_dir)
        assert "SANDBOX_SCIM_TOKEN" not in (data_dir / "sandboxes.json").read_text()
        token = secrets["SANDBOX_SCIM_TOKEN"]
        users = httpx2.get(f"{recorded.url('scim')}/acme/v2/Users", headers={"Authorization": f"Bearer {token}"})
        assert users.status_code == 200

        assert _cli("status", "--data-dir", str(data_dir)).returncode == 0
        again = _cli("up", "--data-dir", str(data_dir), "--only", "scim", "--port", "scim=0")
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        down = _cli("down", "--data-dir", str(data_dir))
    assert down.returncode == 0, down.stderr
    assert all(_gone(pid) for pid in recorded.pids.values())
    assert not (data_dir / "sandboxes.json").exists()
    assert _cli("status", "--data-dir", str(data_dir)).returncode == 3

    # A second `up` reuses the stored credentials, so Airflow connections stay valid.
    second = _cli("up", "--data-dir", str(data_dir), "--only", "scim", "--port", "scim=0")
    try:
        assert second.returncode == 0, second.stderr
        assert "reused from" in second.stdout
        assert read_secrets(data_dir / "secrets.env") == secrets
    finally:
        assert _cli("down", "--data-dir", str(data_dir)).returncode == 0


def test_down_refuses_to_signal_a_pid_that_is_not_a_sandbox(tmp_path: Path) -> None:
    # A stale sandboxes.json whose pid was reused by an unrelated process must not kill it.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        (tmp_path / "sandboxes.json").write_text(
            json.dumps({"host": "127.0.0.1", "ports": {"scim": 1}, "pids": {"scim": bystander.pid}})
        )
        stale = SandboxSet.load(tmp_path)
        assert stale.running() == {"scim": False}
        stale.stop(grace=0.5)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_secrets_env_is_sourceable_by_a_shell(tmp_path: Path) -> None:
    from sandbox.launcher import write_secrets

    env = generate_secrets(TENANTS)
    path = tmp_path / "secrets.env"
    write_secrets(path, env)
    shell = subprocess.run(
        ["bash", "-c", f'set -a; . {path}; printf %s "$SANDBOX_REGISTRY_CLIENTS"'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    )
    assert shell.stdout == env["SANDBOX_REGISTRY_CLIENTS"]


@pytest.mark.slow
def test_cli_up_seeds_the_hris_workforce_per_tenant(tmp_path: Path) -> None:
    data_dir = tmp_path / "seeded"
    free = ("--port", "hris=0", "--port", "lrs=0")
    up = _cli("up", "--data-dir", str(data_dir), "--only", "hris", "--only", "lrs", *free, "--seed-workers", "3")
    try:
        assert up.returncode == 0, up.stderr
        running = SandboxSet.load(data_dir)
        tokens = json.loads(read_secrets(data_dir / "secrets.env")["SANDBOX_HRIS_TOKENS"])
        for tenant in TENANTS:
            workers = httpx2.get(
                f"{running.url('hris')}/api/v1/tenants/{tenant}/workers",
                headers={"Authorization": f"Bearer {tokens[tenant]}"},
                timeout=10,
            )
            assert workers.status_code == 200, workers.text
            assert len(workers.json()["data"]) == 3
    finally:
        assert _cli("down", "--data-dir", str(data_dir)).returncode == 0
