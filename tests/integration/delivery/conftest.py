"""A registry sandbox of its own for the delivery tests (rate and token TTL under test control)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from credsync.delivery.config import RegistrySettings, RetryPolicy
from credsync.delivery.hris_client import HrisTarget, HrisWritebackClient
from credsync.delivery.registry_client import RegistryClient, RegistryTarget
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
def registry_target(registry_sandbox, registry_url) -> RegistryTarget:
    clients = json.loads(registry_sandbox.env["SANDBOX_REGISTRY_CLIENTS"])
    client_id, entry = next(iter(clients.items()))
    return RegistryTarget(registry_url, client_id, entry["secret"])


@pytest.fixture
def registry_client(registry_target) -> RegistryClient:
    return RegistryClient(registry_target, TEST_SETTINGS)


@pytest.fixture
def hris_url(registry_sandbox) -> Iterator[str]:
    url = registry_sandbox.url("hris")
    admin(url, "POST", "/admin/reset")
    admin(url, "DELETE", "/admin/faults")
    yield url
    admin(url, "DELETE", "/admin/faults")


@pytest.fixture
def hris_client(registry_sandbox, hris_url) -> HrisWritebackClient:
    token = json.loads(registry_sandbox.env["SANDBOX_HRIS_TOKENS"])["acme"]
    return HrisWritebackClient(HrisTarget(hris_url, "acme", token), policy=TEST_SETTINGS.retry,
                               timeout_seconds=2)
