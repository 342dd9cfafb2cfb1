"""A registry sandbox of its own for the delivery tests (rate and token TTL under test control)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from credsync.delivery.config import RegistrySettings, RetryPolicy
from credsync.hooks.hris import HrisClient
from credsync.hooks.policy import Timeouts
from credsync.hooks.registry import RegistryClient
from tests.integration.delivery.helpers import admin

TENANTS = ["acme", "globex"]
# Fast retries so fault-heavy tests finish in seconds; the shape (x2, jitter, cap) is the production one.
TEST_SETTINGS = RegistrySettings(
    batch_size=100, timeout_seconds=0.6, connect_timeout_seconds=1,
    retry=RetryPolicy(initial_seconds=0.05, multiplier=2, max_seconds=0.5, max_attempts=10, max_throttled=30),
    token_refresh_margin_seconds=1,
)


@pytest.fixture(scope="module")
def registry_sandbox(tmp_path_factory) -> Iterator[object]:
    from sandbox.launcher import generate_secrets, start_all

    env = generate_secrets(TENANTS)
    env["SANDBOX_REGISTRY_RATE"] = "400"
    env["SANDBOX_REGISTRY_BURST"] = "400"
    env["SANDBOX_REGISTRY_TOKEN_TTL"] = "5"
    with start_all(tmp_path_factory.mktemp("delivery"), env=env, names=["registry", "hris"]) as running:
        yield running


@pytest.fixture
def registry_url(registry_sandbox) -> Iterator[str]:
    url = registry_sandbox.url("registry")
    admin(url, "POST", "/admin/reset")
    admin(url, "DELETE", "/admin/faults")
    yield url
    admin(url, "DELETE", "/admin/faults")


@pytest.fixture
def registry_target(registry_sandbox, registry_url) -> SimpleNamespace:
    """Where the test registry is and the OAuth client the tests act as."""
    clients = json.loads(registry_sandbox.env["SANDBOX_REGISTRY_CLIENTS"])
    client_id, entry = next(iter(clients.items()))
    return SimpleNamespace(base_url=registry_url, client_id=client_id, client_secret=entry["secret"])


def registry_client_for(target: SimpleNamespace, secret: str | None = None) -> RegistryClient:
    return RegistryClient.for_url(target.base_url, target.client_id, secret or target.client_secret,
                                  **TEST_SETTINGS.client_options())


@pytest.fixture
def registry_client(registry_target) -> RegistryClient:
    return registry_client_for(registry_target)


@pytest.fixture
def hris_url(registry_sandbox) -> Iterator[str]:
    url = registry_sandbox.url("hris")
    admin(url, "POST", "/admin/reset")
    admin(url, "DELETE", "/admin/faults")
    yield url
    admin(url, "DELETE", "/admin/faults")


@pytest.fixture
def hris_client(registry_sandbox, hris_url) -> HrisClient:
    token = json.loads(registry_sandbox.env["SANDBOX_HRIS_TOKENS"])["acme"]
    return HrisClient.for_url(hris_url, "acme", token, policy=TEST_SETTINGS.retry, timeouts=Timeouts(2, 2))
