"""Shared fixtures: a real Postgres database per test session, and the sandboxes."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")

# Property-based tests: in CI the same examples every run (a failure there is reproducible from the
# log, never a coin toss); locally hypothesis explores new ones and remembers what failed.
from hypothesis import settings as _hypothesis_settings

_hypothesis_settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    _hypothesis_settings.load_profile("ci")

# Scenarios too slow for every local loop (a fresh virtualenv, a Celery cluster): always run in CI
# (CI=true, as .ci/run on CI sets it) and locally with CREDSYNC_CI_SLOW=1 (README, "Tests").
_RUN_CI_SLOW = bool(os.environ.get("CI") or os.environ.get("CREDSYNC_CI_SLOW"))


def pytest_configure(config):
    config.addinivalue_line("markers", "ci_slow: minutes long; runs in CI and with CREDSYNC_CI_SLOW=1")


def pytest_collection_modifyitems(config, items):
    if _RUN_CI_SLOW:
        return
    skip = pytest.mark.skip(reason="ci_slow scenario: runs in CI; locally set CREDSYNC_CI_SLOW=1 to run it")
    for item in items:
        if "ci_slow" in item.keywords:
            item.add_marker(skip)


# GX gates publish Data Docs to an object store; tests get their own (file://), not the demo's build/.
_DATA_DOCS = Path(tempfile.mkdtemp(prefix="credsync-data-docs-"))
os.environ.setdefault("CREDSYNC_DATA_DOCS_STORE", _DATA_DOCS.as_uri())
atexit.register(shutil.rmtree, _DATA_DOCS, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """The configured Postgres if reachable, else the project's embedded one."""
    from credsync_dev.localenv.postgres import ensure_server

    server = ensure_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def warehouse_url(postgres_server) -> Iterator[str]:
    """A fresh, migrated database for this test session; dropped afterwards."""
    with migrated_database(postgres_server) as url:
        yield url


@contextlib.contextmanager
def migrated_database(postgres_server) -> Iterator[str]:
    """A new database on ``postgres_server``, migrated to head, dropped afterwards."""
    from credsync.warehouse import migrate

    name = postgres_server.temporary_database_name("credsync_test")
    url = postgres_server.create_database(name)
    try:
        migrate(url)
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture
def fresh_warehouse_url(postgres_server) -> Iterator[str]:
    """A fresh, migrated database for one test, for tests that must start empty."""
    with migrated_database(postgres_server) as url:
        yield url


@pytest.fixture
def warehouse(warehouse_url):
    """A psycopg connection to the session database (rolled back at the end)."""
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        yield conn
        conn.rollback()


@pytest.fixture(scope="session")
def sandboxes(tmp_path_factory) -> Iterator[object]:
    """All sandboxes on free loopback ports with fresh state, seeded small."""
    from credsync.tenants import load_tenants
    from sandbox.launcher import generate_secrets, start_all

    tenants = [t.tenant_id for t in load_tenants()]
    data_dir: Path = tmp_path_factory.mktemp("sandboxes")
    env = generate_secrets(tenants)
    with start_all(data_dir, env=env) as running:
        yield running
