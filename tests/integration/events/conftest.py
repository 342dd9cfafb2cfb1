"""The sandboxes and pieces the completion event tests share: LMS (LRS sandbox), registry, HRIS, Redis."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
import redis

from credsync.credentials.keys import generate_signing_key, parse_signing_key
from credsync.delivery.config import load_delivery_settings
from credsync.hooks.hris import HrisClient
from credsync.hooks.policy import Timeouts
from credsync.hooks.registry import RegistryClient

TENANT = "acme"


@pytest.fixture(scope="module")
def event_sandboxes(tmp_path_factory) -> Iterator[SimpleNamespace]:
    """LMS, registry and HRIS sandboxes of this module's own (fresh state, free ports)."""
    from sandbox.launcher import generate_secrets, start_all

    env = generate_secrets(["acme", "globex"])
    env["SANDBOX_REGISTRY_RATE"] = "1000"
    env["SANDBOX_REGISTRY_BURST"] = "1000"
    with start_all(tmp_path_factory.mktemp("events"), env=env, names=["lrs", "registry", "hris"]) as running:
        clients = json.loads(env["SANDBOX_REGISTRY_CLIENTS"])
        client_id, entry = next(iter(clients.items()))
        settings = load_delivery_settings().registry
        yield SimpleNamespace(
            lms_url=running.url("lrs"), registry_url=running.url("registry"), hris_url=running.url("hris"),
            lms_token=json.loads(env["SANDBOX_LMS_TOKENS"])[TENANT],
            registry=RegistryClient.for_url(running.url("registry"), client_id, entry["secret"],
                                            **settings.client_options()),
            hris=HrisClient.for_url(running.url("hris"), TENANT, json.loads(env["SANDBOX_HRIS_TOKENS"])[TENANT],
                                    policy=settings.retry, timeouts=Timeouts(2, 5)),
        )


@pytest.fixture(scope="module")
def signing_key():
    return parse_signing_key(generate_signing_key())


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> Iterator[str]:
    """A redis-server of the session's own (the machine's 6379 only when none is installed)."""
    import os

    from tests.distributed.cluster import BrokerUnavailable, redis_broker

    try:
        with redis_broker(tmp_path_factory.mktemp("redis")) as url:
            yield url
    except BrokerUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{exc}; install redis-server to run the completion event tests")


@pytest.fixture
def wake_channel(redis_url) -> Iterator[SimpleNamespace]:
    """A Redis channel of this test's own, subscribed before anything is published."""
    client = redis.Redis.from_url(redis_url)
    channel = f"credsync.test.{uuid.uuid4().hex}"
    subscriber = client.pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(channel)
    subscriber.get_message(timeout=1)  # the subscribe confirmation

    def messages(timeout: float = 2.0) -> list[dict]:
        seen = []
        while (message := subscriber.get_message(timeout=timeout)) is not None:
            seen.append(json.loads(message["data"]))
            timeout = 0.3
        return seen

    yield SimpleNamespace(client=client, channel=channel, messages=messages)
    subscriber.close()
    client.close()
