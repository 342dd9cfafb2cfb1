"""Browser tests: a headless chromium against a real api-server with the credsync plugins."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from .airflow_server import AirflowServer, airflow_api_server
from .browser import ARTIFACTS, start_chromium
from .gates import BlockedGate, run_blocked_gate
from .real_run import FailedGateRun, hris_sandbox, produce_failed_gate, scheduler


@pytest.fixture(scope="session")
def chromium(tmp_path_factory) -> Iterator[object]:
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    for stale in ARTIFACTS.glob("FAILED_*.png"):  # left by an earlier session: not this one's failures
        stale.unlink()
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def docs_store(tmp_path_factory) -> str:
    """The Data Docs store the api-server and the gates in these tests share (a file:// object store)."""
    return (tmp_path_factory.mktemp("objects") / "data_docs").as_uri()


@pytest.fixture(scope="session")
def oncall_warehouse(postgres_server) -> Iterator[str]:
    """A migrated warehouse of its own with the week of data in tests/browser/seed.py."""
    from credsync.warehouse import connect, migrate

    from .seed import seed

    name = postgres_server.temporary_database_name("credsync_browser")
    url = postgres_server.create_database(name)
    try:
        migrate(url)
        with connect(url) as conn:
            seed(conn)
        yield url
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def blocked_gate(oncall_warehouse, docs_store) -> BlockedGate:
    """A real GX gate run that blocked a batch, with its Data Docs in ``docs_store``."""
    return run_blocked_gate(oncall_warehouse, docs_store)


@pytest.fixture(scope="session")
def airflow(chromium, oncall_warehouse, blocked_gate, docs_store, tmp_path_factory) -> Iterator[AirflowServer]:
    """The api-server (started after the browser, so a missing browser skips before the slow start)."""
    with airflow_api_server(tmp_path_factory.mktemp("airflow-home"), warehouse_url=oncall_warehouse,
                            extra_env={"CREDSYNC_DATA_DOCS_STORE": docs_store}) as server:
        yield server


@pytest.fixture(scope="session")
def failed_gate(airflow, oncall_warehouse, tmp_path_factory) -> FailedGateRun:
    """A real hris_delta_export run whose gate refused acme's mass-termination batch (tests/browser/real_run.py).

    The scheduler and the HRIS sandbox stop once the run is over; its task logs stay in the
    api-server's AIRFLOW_HOME, where the UI reads them.
    """
    with hris_sandbox(tmp_path_factory.mktemp("hris")) as (hris, tokens), scheduler(airflow):
        return produce_failed_gate(airflow, oncall_warehouse, hris, tokens)


@pytest.fixture(scope="session")
def logged_in(chromium, airflow) -> object:
    """The browser, logged in to the Airflow UI through its login form (once per session)."""
    from .ui import login

    login(chromium, airflow)
    return chromium


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test leaves a screenshot of what the browser showed (test artefact)."""
    report = yield
    driver = item.funcargs.get("chromium") if hasattr(item, "funcargs") else None
    if report.when == "call" and report.failed and driver is not None:
        from .browser import screenshot

        with contextlib.suppress(Exception):
            driver.switch_to.default_content()
            screenshot(driver, f"FAILED_{item.name}")
    return report


def pytest_terminal_summary(terminalreporter) -> None:
    """Where the screenshots are (CI keeps build/; a person opens them after a failure)."""
    from .browser import WRITTEN

    if WRITTEN:
        names = ", ".join(sorted({p.name for p in WRITTEN}))
        terminalreporter.write_line(f"browser test artefacts: {ARTIFACTS} ({names})")


def pytest_collection_modifyitems(config, items):
    """Browser tests start an api-server (a minute or two on a busy machine): slow, with room to start."""
    here = __file__.rsplit("/", 1)[0]
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.timeout(900))
