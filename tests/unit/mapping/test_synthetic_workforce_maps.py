"""No false positives: every worker the sandbox's synthetic HRIS produces maps cleanly, for both tenants.

The declared limits and classes of hris_worker_v1 (person_name, single_script, identifier,
email) must accept every legitimate record the demo seeds: the day-0 workforce, day-N changes
(name changes, new hires, transfers) and every name in the Faker pools the generator draws from.
"""

from __future__ import annotations

import pytest

from credsync.mapping import MappingError, load_mapping
from credsync.tenants import load_tenants
from sandbox.synth.changes import iter_changes
from sandbox.synth.workforce import Workforce, iter_workers

WORKERS = 1500
SEEDS = (7, 1)  # 7 is the seed the sandbox README and integration tests use
TENANTS = tuple(tenant.tenant_id for tenant in load_tenants())


def _rejections(records: list[dict]) -> list[str]:
    mapping = load_mapping("hris_worker", "v1")
    problems = []
    for number, record in enumerate(records, start=1):
        try:
            mapping.apply(record, record_number=number, record_key=record.get("employee_id"))
        except MappingError as err:
            problems.append(f"{err.rule}: {err}")
    return problems


def test_both_demo_tenants_are_configured() -> None:
    assert {"acme", "globex"} <= set(TENANTS)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tenant_id", TENANTS)
def test_every_synthetic_worker_and_change_maps(tenant_id: str, seed: int) -> None:
    records = list(iter_workers(tenant_id, WORKERS, seed))
    for day in (1, 2, 3):
        records.extend(change["worker"] for change in iter_changes(tenant_id, WORKERS, seed, day))
    assert len(records) > WORKERS
    assert _rejections(records) == []


@pytest.mark.parametrize("tenant_id", TENANTS)
def test_every_name_and_city_in_the_generator_pools_maps(tenant_id: str) -> None:
    workforce = Workforce(tenant_id, 7)
    template = workforce.worker(1)
    pools = workforce.pools
    records = []
    for given in pools.given:
        records.append({**template, "name": {"given": given, "family": "Lee", "preferred": given}})
    for family in pools.family:
        records.append({**template, "name": {"given": "Ann", "family": family, "preferred": None}})
    for city in pools.locations:
        records.append({**template, "employment": {**template["employment"], "location": city}})
    assert _rejections(records) == []
