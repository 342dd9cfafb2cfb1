"""Residency (issue #19): a tenant whose policy forbids a destination's region never sends it anything.

Two tenants, two regions: acme may send only to ``sa-riyadh``, globex is unrestricted. The
destinations are real HTTP servers on loopback that count what reaches them; the hooks are the
project's (registry, SCIM), built from Connections as in a deployment; the refusal is on the
tenant's audit chain. The data-flow report is compared with the mappings it is generated from.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import yaml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

import credsync.tenants
from credsync.dataflow import flows, markdown, scim_fields
from credsync.delivery.payload import registry_mapping
from credsync.delivery.writeback import PAYROLL_COLUMNS, sync_writebacks
from credsync.governance.residency import STORE_REGION_ENV, ResidencyViolation
from credsync.hooks.hris import HrisHook
from credsync.hooks.registry import RegistryHook
from credsync.hooks.scim import ScimHook
from credsync.objects import as_store_path
from credsync.tenants import TENANTS_FILE, TenantConfigError, load_tenants
from credsync.warehouse import connect
from credsync_dev.localenv.airflow_env import warehouse_connection_env
from tests.integration.delivery.helpers import seed_credentials
from tests.integration.people.test_hris_webhooks import serve

REGIONS = {"registry_national": "eu-west", "scim_acme": "sa-riyadh", "scim_globex": "eu-west",
           "hris_acme": "sa-riyadh", "hris_globex": "eu-west"}


@pytest.fixture
def tenants_file(tmp_path, monkeypatch) -> Path:
    raw = yaml.safe_load(TENANTS_FILE.read_text(encoding="utf-8"))
    for tenant in raw["tenants"]:
        if tenant["tenant_id"] == "acme":
            tenant["residency"] = {"allowed_regions": ["sa-riyadh"]}
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    monkeypatch.setattr(credsync.tenants, "TENANTS_FILE", path)
    return path


@pytest.fixture
def destination() -> Iterator[tuple[str, list[str]]]:
    """A server that answers everything and records every request it receives."""
    seen: list[str] = []
    app = FastAPI()

    @app.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH"])
    async def anything(path: str, request: Request) -> JSONResponse:
        seen.append(f"{request.method} /{path}")
        if path.endswith("oauth/token"):
            return JSONResponse({"access_token": "t", "token_type": "Bearer", "expires_in": 300})
        return JSONResponse({"Resources": [], "totalResults": 0, "items": []})

    with serve(app) as url:
        yield url, seen


@pytest.fixture
def connections(destination, warehouse_url, monkeypatch) -> None:
    url, _ = destination
    for conn_id, region in REGIONS.items():
        extra = {"region": region, **({"auth": "oauth2"} if conn_id.startswith("registry") else {})}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(
            {"conn_type": "http", "host": url, "login": "client", "password": "secret", "extra": extra}))
    for key, value in warehouse_connection_env(warehouse_url).items():
        monkeypatch.setenv(key, value)


def test_a_forbidden_region_gets_nothing_and_the_refusal_is_audited(tenants_file, connections, destination,
                                                                   warehouse_url) -> None:
    _, seen = destination
    with pytest.raises(ResidencyViolation, match="tenant acme's data may go only to sa-riyadh; connection "
                                                 "'registry_national' \\(registry\\) declares region 'eu-west'"):
        RegistryHook("registry_national", "acme").get_client()
    assert seen == []  # not even the token request
    with connect(warehouse_url) as conn:
        events = conn.execute("SELECT entity_key, detail FROM audit.events WHERE tenant_id = 'acme'"
                              " AND event_type = 'residency_refused'").fetchall()
    assert events[-1] == ("registry_national", {"service": "registry", "region": "eu-west",
                                                "allowed_regions": ["sa-riyadh"]})


def test_allowed_destinations_and_unrestricted_tenants_are_reached(tenants_file, connections, destination) -> None:
    _, seen = destination
    ScimHook("scim_acme", "acme").client().api.request("GET", "Users")  # sa-riyadh: allowed for acme
    RegistryHook("registry_national", "globex").get_client().http.request("GET", "v1/certificates")
    assert any(line.startswith("GET /") and "Users" in line for line in seen)
    assert any("v1/certificates" in line for line in seen)


def test_a_destination_that_declares_no_region_fails_closed(tenants_file, connections, monkeypatch,
                                                             destination) -> None:
    url, seen = destination
    monkeypatch.setenv("AIRFLOW_CONN_SCIM_ACME", json.dumps({"conn_type": "http", "host": url, "password": "s"}))
    with pytest.raises(ResidencyViolation, match="declares no region"):
        ScimHook("scim_acme", "acme").client()
    assert seen == []


def test_the_payroll_csv_goes_only_to_an_object_store_in_the_tenants_regions(
        tenants_file, connections, destination, warehouse_url, fresh_warehouse_url, tmp_path, monkeypatch) -> None:
    _, seen = destination
    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 2, pay_impact=True)
    hris = HrisHook("hris_acme", "acme").client()  # sa-riyadh: the HRIS itself is allowed
    store = tmp_path / "payroll"
    csv = store / "acme" / "payroll_flags_2026-03-02.csv"

    monkeypatch.delenv(STORE_REGION_ENV, raising=False)
    with pytest.raises(ResidencyViolation, match=rf"declares no region \(\${STORE_REGION_ENV}\)"):
        sync_writebacks(fresh_warehouse_url, "acme", hris, as_of=date(2026, 3, 2), payroll_dir=store)
    monkeypatch.setenv(STORE_REGION_ENV, "eu-west")
    with pytest.raises(ResidencyViolation, match=r"'object store' \(object store, payroll CSV\) declares region "
                                                 "'eu-west'"):
        sync_writebacks(fresh_warehouse_url, "acme", hris, as_of=date(2026, 3, 2), payroll_dir=store)
    # Checked before anything left: no HRIS write-back, no file.
    assert seen == [] and not csv.exists()
    with connect(warehouse_url) as conn:
        refused = conn.execute("SELECT detail FROM audit.events WHERE tenant_id = 'acme'"
                               " AND event_type = 'residency_refused' AND entity_key = 'object store'"
                               " ORDER BY event_id DESC LIMIT 1").fetchone()[0]
    assert refused == {"service": "object store, payroll CSV", "region": "eu-west", "allowed_regions": ["sa-riyadh"]}

    monkeypatch.setenv(STORE_REGION_ENV, "sa-riyadh")
    result = sync_writebacks(fresh_warehouse_url, "acme", hris, as_of=date(2026, 3, 2), payroll_dir=store)
    assert result.payroll_rows == 2 and csv.exists()
    assert sum(line.startswith("PUT /") for line in seen) == 4  # profile + payroll flag per worker


def test_the_data_flow_report_lists_the_object_store_with_its_region(tenants_file, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(STORE_REGION_ENV, "eu-west")
    report = flows(REGIONS.get, as_store_path(tmp_path / "payroll"))
    payroll = {f.tenant_id: f for f in report if f.destination == "object store"}
    assert payroll["acme"].fields == tuple(f"payroll_csv.{c}" for c in PAYROLL_COLUMNS)
    assert (payroll["acme"].region, payroll["acme"].allowed, payroll["globex"].allowed) == ("eu-west", False, True)
    assert "| acme | object store | hris_writeback payroll CSV | object store | eu-west | NO |" in markdown(report)


def test_the_data_flow_report_matches_the_mappings_and_the_policy(tenants_file) -> None:
    report = flows(REGIONS.get)
    push = {f.tenant_id: f for f in report if f.flow == "registry_push"}
    assert push["acme"].fields == tuple(registry_mapping().target_fields)
    assert (push["acme"].region, push["acme"].allowed, push["globex"].allowed) == ("eu-west", False, True)
    lms = next(f for f in report if f.tenant_id == "acme" and f.destination == "lms")
    assert lms.allowed and lms.fields == scim_fields()
    assert {"userName", "emails.value", "name.givenName", "User.department"} <= set(lms.fields)
    text = markdown(report)
    assert "| acme | registry | registry_push | registry_national | eu-west | NO |" in text


def test_a_residency_policy_must_name_regions(tmp_path) -> None:
    raw = yaml.safe_load(TENANTS_FILE.read_text(encoding="utf-8"))
    raw["tenants"][0]["residency"] = {"allowed_regions": []}
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(TenantConfigError, match=r"residency\.allowed_regions"):
        load_tenants(path)
