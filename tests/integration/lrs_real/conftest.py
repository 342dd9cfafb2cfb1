"""The real Ralph LRS (ralph-malph from PyPI, its own venv under build/ralph-venv, created on first
use) and LRS sandboxes with and without Ralph's quirks, each on a free loopback port."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from tests.conftest import migrated_database
from tests.integration.lrs_real.harness import TENANT, Lrs, Pipeline

RALPH_QUIRKS = "since_on_timestamp,no_consistent_through,descending_pages"


@pytest.fixture(scope="session")
def ralph(tmp_path_factory) -> Iterator[object]:
    from sandbox.ralph.launcher import running_ralph

    with running_ralph(tmp_path_factory.mktemp("ralph"), [TENANT, "globex"]) as server:
        yield server


def _sandbox(tmp_path_factory, quirks: str | None) -> Iterator[tuple[object, dict[str, str]]]:
    from sandbox.launcher import generate_secrets, start_all

    env = generate_secrets([TENANT, "globex"])
    if quirks:
        env["SANDBOX_LRS_QUIRKS"] = quirks
    with start_all(tmp_path_factory.mktemp("lrs-sandbox"), env=env, names=["lrs"]) as running:
        yield running, env


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    yield from _sandbox(tmp_path_factory, None)


@pytest.fixture(scope="session")
def quirky_sandbox(tmp_path_factory):
    yield from _sandbox(tmp_path_factory, RALPH_QUIRKS)


def ralph_lrs(server) -> Lrs:
    def reset() -> None:
        path = server.statements_file(TENANT)
        if path.exists():
            path.unlink()  # Ralph's fs backend reads this file on every query: gone = empty

    return Lrs("ralph", server.base_url, server.users[TENANT], reset_hook=reset)


def sandbox_lrs(name: str, running, env: dict[str, str]) -> Lrs:
    url = running.url("lrs")

    def reset() -> None:
        requests.post(f"{url}/admin/reset", timeout=10).raise_for_status()

    key, secret = json.loads(env["SANDBOX_LRS_CREDENTIALS"])[TENANT]
    return Lrs(name, f"{url}/{TENANT}/xAPI/", (key, secret), admin_url=url, reset_hook=reset)


@pytest.fixture
def lrs_factory(ralph, sandbox, quirky_sandbox, monkeypatch):
    """``make(kind, warehouse_url) -> (Lrs, Pipeline)``; kind in ralph | sandbox | quirky. The LMS REST
    export always comes from the plain sandbox (Ralph has none), emptied with it."""

    def make(kind: str, warehouse_url: str) -> tuple[Lrs, Pipeline]:
        running, env = sandbox
        if kind == "ralph":
            lrs = ralph_lrs(ralph)
        elif kind == "sandbox":
            lrs = sandbox_lrs("sandbox", running, env)
        else:
            lrs = sandbox_lrs("quirky", *quirky_sandbox)
        lrs.reset()
        requests.post(f"{running.url('lrs')}/admin/reset", timeout=10).raise_for_status()
        lrs_conn, lms_conn = f"lrs_{kind}_test", f"lms_{kind}_test"
        monkeypatch.setenv(f"AIRFLOW_CONN_{lrs_conn.upper()}", json.dumps(lrs.connection()))
        token = json.loads(env["SANDBOX_LMS_TOKENS"])[TENANT]
        monkeypatch.setenv(f"AIRFLOW_CONN_{lms_conn.upper()}", json.dumps({
            "conn_type": "http", "host": f"{running.url('lrs')}/{TENANT}/lms/api/v1/", "password": token}))
        return lrs, Pipeline(warehouse_url, lrs_conn, lms_conn)

    return make


@pytest.fixture
def lms_admin(sandbox) -> str:
    """Admin URL of the sandbox that serves the LMS REST export."""
    running, _ = sandbox
    return running.url("lrs")


@pytest.fixture
def second_warehouse_url(postgres_server) -> Iterator[str]:
    """Another fresh, migrated database: the same history through a second LRS, compared."""
    with migrated_database(postgres_server) as url:
        yield url
