"""Fixtures for the audit tests: a checkpoint key pair and store, and the real CLI in a subprocess."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from credsync.audit import append_event
from credsync.audit.checkpoints import new_signing_jwk
from credsync.paths import PROJECT_ROOT
from credsync.warehouse import connect


def append(url: str, tenant: str, count: int, start: int = 0) -> None:
    """``count`` events for ``tenant``, one commit each (as the pipeline's tasks append them)."""
    with connect(url) as conn:
        for n in range(start, start + count):
            append_event(conn, tenant_id=tenant, event_type="credential.issued", entity_type="credential",
                         entity_key=f"{tenant}-{n}", detail={"n": n})
            conn.commit()


@pytest.fixture(scope="session")
def checkpoint_key() -> str:
    return new_signing_jwk()


@pytest.fixture
def checkpoint_store(tmp_path) -> Path:
    return tmp_path / "objects" / "audit-checkpoints"


@pytest.fixture
def audit_cli(checkpoint_key, checkpoint_store, tmp_path) -> Callable[..., subprocess.CompletedProcess]:
    """Run ``python -m credsync.audit`` as an operator would: store and keys from the environment."""
    from credsync.audit.checkpoints import public_jwk

    env = {
        "PYTHONPATH": f"{PROJECT_ROOT}:{PROJECT_ROOT / 'plugins'}",
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AIRFLOW_HOME": str(tmp_path / "airflow"),
        "CREDSYNC_OBJECT_STORE": f"file://{checkpoint_store.parent}",
        "CREDSYNC_AUDIT_CHECKPOINT_KEY": checkpoint_key,
        "CREDSYNC_AUDIT_CHECKPOINT_PUBLIC_KEY": public_jwk(checkpoint_key),
    }

    def run(*args: str, **overrides: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "credsync.audit", *args], capture_output=True, text=True,
                              cwd=PROJECT_ROOT, timeout=120, env={**env, **overrides})

    return run
