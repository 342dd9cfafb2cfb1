"""Credential types published to the definitions registry sandbox (Credential Engine-style) over HTTP.

CTIDs are minted once and stable across reruns, updates, faults and retirements; nothing but the
definition leaves; a refusal answered with HTTP 200 (the Assistant API's habit) is still a refusal.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import psycopg
import pytest
import requests

from credsync.credentials.rules import load_rules
from credsync.definitions.publish import AUDIT_TENANT, CEASED, DefinitionsGateFailed, publish_definitions
from credsync.hooks.definitions import DefinitionsClient
from credsync.hooks.policy import RetryPolicy
from credsync.warehouse import connect
from sandbox.ctdl.app import create_app
from tests.conftest import migrated_database
from tests.integration.people.test_hris_webhooks import serve

ORG = f"ce-{uuid.uuid4()}"
KEY = "definitions-api-key"
PAGE = "https://training.example/credentials/{credential_type}"
FAST = RetryPolicy(initial_seconds=0.01, max_seconds=0.05, max_attempts=10)
RULES = load_rules()
TYPES = sorted({rule.credential_type for rule in RULES})


@pytest.fixture
def warehouse(postgres_server) -> Iterator[str]:
    with migrated_database(postgres_server) as url:
        yield url


@pytest.fixture
def registry() -> Iterator[str]:
    with serve(create_app({KEY: ORG, "other-key": f"ce-{uuid.uuid4()}"})) as url:
        yield url


def client(url: str, key: str = KEY, page: str = PAGE) -> DefinitionsClient:
    return DefinitionsClient.for_url(url, key, ORG, page, policy=FAST)


def ctids(warehouse: str) -> dict[str, str]:
    with connect(warehouse) as conn:
        return dict(conn.execute("SELECT credential_type, ce_ctid FROM core.credential_definitions").fetchall())


def publishes(url: str) -> list[dict]:
    return requests.get(f"{url}/sandbox/publishes", timeout=10).json()["publishes"]


def resource(url: str, ctid: str) -> dict:
    return requests.get(f"{url}/resources/{ctid}", timeout=10).json()


def test_each_type_gets_one_ctid_and_a_rerun_publishes_nothing(warehouse, registry) -> None:
    first = publish_definitions(warehouse, client(registry), RULES)
    minted = ctids(warehouse)
    assert (first.minted, first.published, first.unchanged) == (len(TYPES), len(TYPES), 0)
    assert sorted(minted) == TYPES
    forklift = resource(registry, minted["forklift_operator"])
    assert forklift["ceterms:ctid"] == minted["forklift_operator"]
    assert forklift["ceterms:name"] == {"en-US": "Forklift operator"}
    assert forklift["ceterms:lifeCycleStatusType"]["ceterms:targetNode"] == "lifeCycle:Active"
    assert forklift["ceterms:subjectWebpage"] == "https://training.example/credentials/forklift_operator"

    again = publish_definitions(warehouse, client(registry), RULES)
    assert (again.minted, again.published, again.unchanged) == (0, 0, len(TYPES))
    assert ctids(warehouse) == minted
    assert len(publishes(registry)) == len(TYPES)


def test_an_update_keeps_the_ctid_and_a_retired_type_is_ceased_not_deleted(warehouse, registry) -> None:
    publish_definitions(warehouse, client(registry), RULES)
    minted = ctids(warehouse)
    renamed = [dataclasses.replace(r, achievement_name="Forklift operator (counterbalance)")
               if r.credential_type == "forklift_operator" else r for r in RULES]
    update = publish_definitions(warehouse, client(registry), renamed)
    assert (update.published, update.minted) == (1, 0)
    assert resource(registry, minted["forklift_operator"])["sandbox:version"] == 2

    without = [r for r in renamed if r.credential_type != "forklift_operator"]
    retired = publish_definitions(warehouse, client(registry), without)
    assert (retired.published, retired.ceased) == (1, 1)
    node = resource(registry, minted["forklift_operator"])["ceterms:lifeCycleStatusType"]["ceterms:targetNode"]
    assert node == CEASED
    assert publish_definitions(warehouse, client(registry), without).published == 0  # ceased once

    back = publish_definitions(warehouse, client(registry), renamed)
    assert back.published == 1 and ctids(warehouse) == minted
    assert resource(registry, minted["forklift_operator"])["ceterms:lifeCycleStatusType"]["ceterms:targetNode"] \
        == "lifeCycle:Active"
    with connect(warehouse) as conn:
        with pytest.raises(psycopg.errors.RaiseException, match="minted once"):
            conn.execute("UPDATE core.credential_definitions SET ce_ctid = %s WHERE credential_type = 'cpr_aed'",
                         (f"ce-{uuid.uuid4()}",))
        conn.rollback()
        with pytest.raises(psycopg.errors.RaiseException, match="cannot be deleted"):
            conn.execute("DELETE FROM core.credential_definitions")


def test_under_resets_and_5xx_every_type_ends_published_under_its_one_ctid(warehouse, registry) -> None:
    faults = {"error_rate": 0.25, "reset_rate": 0.25, "seed": 7, "paths": ["/assistant"]}
    requests.put(f"{registry}/admin/faults", json=faults, timeout=10).raise_for_status()
    result = publish_definitions(warehouse, client(registry), RULES)
    requests.delete(f"{registry}/admin/faults", timeout=10).raise_for_status()

    assert result.published == len(TYPES)
    seen = {p["ctid"] for p in publishes(registry)}
    assert seen == set(ctids(warehouse).values())
    assert len(publishes(registry)) > len(TYPES)  # lost answers were resent, as updates of the same CTID
    assert requests.get(f"{registry}/sandbox/publishes", timeout=10).json()["resources"] == len(TYPES)
    assert publish_definitions(warehouse, client(registry), RULES).published == 0


def test_a_refusal_answered_with_200_is_dead_lettered_with_the_registrys_messages(warehouse, registry) -> None:
    result = publish_definitions(warehouse, client(registry, key="other-key"), RULES)
    assert (result.refused, result.published) == (len(TYPES), 0)
    with connect(warehouse) as conn:
        letters = conn.execute("SELECT reason, detail FROM audit.dead_letters WHERE tenant_id = %s"
                               " AND source = 'definitions'", (AUDIT_TENANT,)).fetchall()
    assert len(letters) == len(TYPES)
    assert {reason for reason, _ in letters} == {"definition_refused"}
    assert "may not publish for PublishForOrganizationIdentifier" in letters[0][1]["messages"][0]
    assert publishes(registry) == []


def test_the_gx_gate_refuses_a_definition_before_anything_is_sent(warehouse, registry) -> None:
    with pytest.raises(DefinitionsGateFailed, match="subject_webpage_https"):
        publish_definitions(warehouse, client(registry, page="http://plain.example/{credential_type}"), RULES)
    assert publishes(registry) == []
