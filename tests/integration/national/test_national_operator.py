"""NationalLrsOperator with its real hook and Connections (env), the NELC sandbox over loopback HTTP:
the Connection's region is checked against the tenant's residency policy before anything is sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from airflow.sdk.exceptions import AirflowSkipException

import credsync.tenants
from credsync.governance.residency import ResidencyViolation
from credsync.national_profile import profile_of
from credsync.operators.national_lrs import NationalLrsOperator
from credsync.tenants import TENANTS_FILE, get_tenant
from credsync_dev.localenv.airflow_env import warehouse_connection_env
from sandbox.nelc.app import create_app
from tests.conftest import migrated_database
from tests.integration.national.test_nelc_forward import seed
from tests.integration.people.test_hris_webhooks import serve


@pytest.fixture
def warehouse(postgres_server, monkeypatch) -> Iterator[str]:
    with migrated_database(postgres_server) as url:
        for key, value in warehouse_connection_env(url).items():
            monkeypatch.setenv(key, value)
        yield url


@pytest.fixture
def lrs(monkeypatch) -> Iterator[str]:
    with serve(create_app({"nelc-acme": ("s3cret", profile_of(get_tenant("acme")).platform)})) as url:
        monkeypatch.setenv("AIRFLOW_CONN_NATIONAL_LRS_ACME", json.dumps(
            {"conn_type": "http", "host": f"{url}/xapi", "login": "nelc-acme", "password": "s3cret",
             "extra": {"region": "sa-riyadh", "retry": {"initial_seconds": 0.01, "max_seconds": 0.05}}}))
        yield url


def stored(url: str) -> list[str]:
    return requests.get(f"{url}/sandbox/received", timeout=10).json()["stored"]


def restrict(tmp_path: Path, monkeypatch, regions: list[str]) -> None:
    raw = yaml.safe_load(TENANTS_FILE.read_text(encoding="utf-8"))
    for tenant in raw["tenants"]:
        if tenant["tenant_id"] == "acme":
            tenant["residency"] = {"allowed_regions": regions}
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setattr(credsync.tenants, "TENANTS_FILE", path)


def test_the_operator_forwards_through_its_connection_and_a_rerun_sends_nothing(warehouse, lrs) -> None:
    seed(warehouse, "acme", learners=2)
    operator = NationalLrsOperator(task_id="forward_statements", tenant_id="acme")
    counts = operator.execute({})
    assert counts["acknowledged"] == counts["built"] == 2 * 14 and counts["refused"] == 0
    assert len(stored(lrs)) == 2 * 14
    assert operator.execute({})["sent"] == 0


def test_a_region_outside_the_residency_policy_gets_nothing(warehouse, lrs, tmp_path, monkeypatch) -> None:
    seed(warehouse, "acme", learners=1)
    restrict(tmp_path, monkeypatch, ["eu-central"])
    with pytest.raises(ResidencyViolation, match="national_lrs_acme"):
        NationalLrsOperator(task_id="forward_statements", tenant_id="acme").execute({})
    assert stored(lrs) == []
    restrict(tmp_path, monkeypatch, ["eu-central", "sa-riyadh"])
    assert NationalLrsOperator(task_id="forward_statements", tenant_id="acme").execute({})["acknowledged"] == 14


def test_without_its_connection_the_task_is_skipped(warehouse) -> None:
    with pytest.raises(AirflowSkipException, match="no Connection 'national_lrs_acme'"):
        NationalLrsOperator(task_id="forward_statements", tenant_id="acme").execute({})
