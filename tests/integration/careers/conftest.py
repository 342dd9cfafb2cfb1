"""An HRIS sandbox of the career-path tests' own; a fresh warehouse per test (tests/conftest.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from credsync.hooks.hris import HrisClient
from credsync.hooks.policy import Timeouts
from tests.integration.delivery.conftest import TEST_SETTINGS
from tests.integration.delivery.helpers import admin


@pytest.fixture(scope="module")
def hris_sandbox(tmp_path_factory) -> Iterator[object]:
    from sandbox.launcher import generate_secrets, start_all

    with start_all(tmp_path_factory.mktemp("careers"), env=generate_secrets(["acme", "globex"]),
                   names=["hris"]) as running:
        yield running


@pytest.fixture
def hris(hris_sandbox) -> SimpleNamespace:
    url = hris_sandbox.url("hris")
    admin(url, "POST", "/admin/reset")
    admin(url, "DELETE", "/admin/faults")
    tokens = json.loads(hris_sandbox.env["SANDBOX_HRIS_TOKENS"])
    client = HrisClient.for_url(url, "acme", tokens["acme"], policy=TEST_SETTINGS.retry, timeouts=Timeouts(2, 2))
    yield SimpleNamespace(url=url, client=client, tokens=tokens)
    admin(url, "DELETE", "/admin/faults")
