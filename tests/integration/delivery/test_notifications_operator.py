"""RegistryNotifyOperator with its real hook and Connections (env) against the registry sandbox over loopback."""

from __future__ import annotations

import json

import pytest

from credsync.delivery.push import push_submissions
from credsync.hooks.base import ConnectionConfigError
from credsync.operators.notifications import RegistryNotifyOperator
from credsync.warehouse import connect
from credsync_dev.localenv.airflow_env import warehouse_connection_env
from tests.integration.delivery.conftest import TEST_SETTINGS
from tests.integration.delivery.helpers import admin, seed_credentials

pytestmark = pytest.mark.slow


def registry_connection(monkeypatch, target, **extra: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_REGISTRY_NATIONAL", json.dumps({
        "conn_type": "http", "host": target.base_url, "login": target.client_id,
        "password": target.client_secret, "extra": extra}))


def test_the_operator_notifies_through_its_connection_and_a_rerun_sends_nothing(
        fresh_warehouse_url, registry_sandbox, registry_url, registry_target, registry_client, monkeypatch):
    for key, value in warehouse_connection_env(fresh_warehouse_url).items():
        monkeypatch.setenv(key, value)
    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 3)
    push_submissions(fresh_warehouse_url, "acme", registry_client, settings=TEST_SETTINGS)

    registry_connection(monkeypatch, registry_target)
    with pytest.raises(ConnectionConfigError, match="notification_secret"):
        RegistryNotifyOperator(task_id="notify_registry", tenant_id="acme").execute({})

    registry_connection(monkeypatch, registry_target,
                        notification_secret=registry_sandbox.env["SANDBOX_REGISTRY_NOTIFICATION_SECRET"])
    operator = RegistryNotifyOperator(task_id="notify_registry", tenant_id="acme")
    counts = operator.execute({})
    assert (counts["enqueued"], counts["delivered"], counts["dead"]) == (3, 3, 0)
    assert "passed (6/6 expectations met)" in counts["gate"], counts["gate"]
    assert len(admin(registry_url, "GET", "/admin/notifications")["data"]) == 3
    assert operator.execute({})["sent"] == 0
