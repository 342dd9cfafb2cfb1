"""Fixtures for the people flows: env connections to the sandboxes and a clean slate per test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

TENANT = "acme"


@dataclass
class PeopleEnv:
    warehouse_url: str
    hris_url: str
    scim_url: str
    hris_token: str
    tenant: str = TENANT

    def hris_admin(self, method: str, path: str, **kwargs: object) -> dict:
        response = requests.request(method, f"{self.hris_url}/admin/tenants/{self.tenant}/{path}", timeout=30,
                                    **kwargs)
        response.raise_for_status()
        return response.json()

    def scim_stats(self) -> dict:
        return requests.get(f"{self.scim_url}/admin/{self.tenant}/stats", timeout=10).json()


@pytest.fixture
def people_env(sandboxes, fresh_warehouse_url, monkeypatch) -> Iterator[PeopleEnv]:
    """Seeded HRIS tenant, empty SCIM, fresh warehouse, and AIRFLOW_CONN_* env vars for the hooks."""
    hris_token = json.loads(sandboxes.env["SANDBOX_HRIS_TOKENS"])[TENANT]
    for name, password in (("hris", hris_token), ("scim", sandboxes.env["SANDBOX_SCIM_TOKEN"])):
        port = int(sandboxes.url(name).rsplit(":", 1)[1])
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{name.upper()}_{TENANT.upper()}",
            json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http",
                        "password": password}),
        )
    requests.post(f"{sandboxes.url('scim')}/admin/reset", timeout=10).raise_for_status()
    requests.delete(f"{sandboxes.url('scim')}/admin/faults", timeout=10).raise_for_status()
    requests.delete(f"{sandboxes.url('hris')}/admin/faults", timeout=10).raise_for_status()
    env = PeopleEnv(fresh_warehouse_url, sandboxes.url("hris"), sandboxes.url("scim"), hris_token)
    env.hris_admin("POST", "seed", json={"workers": 60, "seed": 11})
    yield env
    requests.delete(f"{sandboxes.url('scim')}/admin/faults", timeout=10)
