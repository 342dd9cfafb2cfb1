"""The ``runbook`` marker: which README / runbook section a test executes (test_runbook_coverage.py reads it)."""


def pytest_configure(config):
    config.addinivalue_line("markers", "runbook(*sections): the README/runbook on-call sections this test executes")
