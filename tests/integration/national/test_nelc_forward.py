"""NELC adapter end to end: real Postgres, the national LRS sandbox over loopback HTTP.

Acceptance (issue 19): statements for the demo tenants pass the checklist; each checklist violation
seeded here is refused with the rule named (dead-lettered, never sent; and the sandbox refuses it
server-side naming the same rule); under faults the sandbox receives each statement exactly once.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from credsync.credentials.rules import load_rules
from credsync.hooks.national_lrs import NationalLrsClient
from credsync.hooks.policy import RetryPolicy
from credsync.mapping import national_id as nid
from credsync.national.checklist import facts
from credsync.national.forward import ForwardIncomplete, NationalGateFailed, build_statements, forward
from credsync.national.vocabulary import EXT_ATTEMPT_ID, EXT_JWS_CERTIFICATE, EXT_LMS_URL
from credsync.national_profile import profile_of
from credsync.tenants import get_tenant
from credsync.warehouse import connect
from sandbox.nelc.app import create_app
from tests.conftest import migrated_database
from tests.integration.people.test_hris_webhooks import serve

FAST = RetryPolicy(initial_seconds=0.01, max_seconds=0.05, max_attempts=12)
DEMO = ("acme", "globex")
KEYS = {"acme": ("acme-key", "acme-secret"), "globex": ("globex-key", "globex-secret")}
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
GIVEN = ("Sara", "Noura", "Fahad", "Omar", "Layla", "Khalid")


@pytest.fixture
def warehouse(postgres_server) -> Iterator[str]:
    with migrated_database(postgres_server) as url:
        yield url


@pytest.fixture
def lrs() -> Iterator[str]:
    creds = {key: (secret, profile_of(get_tenant(t)).platform) for t, (key, secret) in KEYS.items()}
    with serve(create_app(creds)) as url:
        yield url


def client(url: str, tenant: str) -> NationalLrsClient:
    key, secret = KEYS[tenant]
    return NationalLrsClient.for_url(f"{url}/xapi", key, secret, policy=FAST)


def seed(url: str, tenant: str, learners: int = 3) -> list[str]:
    """Workers with national ids (citizens and residents, Arabic names), their records and credentials."""
    batch = uuid.uuid4()
    ids = []
    with connect(url) as conn:
        for n in range(learners):
            employee = f"E{n:03d}"
            national = nid.with_check_digit(f"{1 + n % 2}{n:08d}")
            ids.append(national)
            conn.execute(
                "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name,"
                " employment_status, employment_type, source_updated_at, mapping_version, last_batch_id,"
                " national_id, given_name_ar, family_name_ar) VALUES (%s,%s,'hris_main',%s,%s,'active','employee',"
                " now(),'hris_worker_v1',%s,%s,%s,%s)",
                (tenant, employee, GIVEN[n % len(GIVEN)], "Alharbi", batch, national, "سارة", "الحربي"))
            rows = [("CPR-101", False, 60, 0), ("CPR-101", True, 90, 1), ("SAFETY-100", True, None, 2),
                    ("FORKLIFT-200", True, 85, 3)]
            for code, success, score, k in rows:
                conn.execute(
                    "INSERT INTO core.completions (tenant_id, source, source_id, employee_id, course_code, verb,"
                    " success, score, completed_at, batch_id, mapping_version) VALUES (%s,'lrs',%s,%s,%s,%s,%s,%s,"
                    "%s,%s,'xapi_statement_v1')",
                    (tenant, f"{employee}-{k}", employee, code, "passed" if success else "failed", success, score,
                     T0 + timedelta(days=k, minutes=n), batch))
            for ctype, rule_id in (("cpr_aed", "CPR-AED"), ("forklift_operator", "FORKLIFT-OP")):
                conn.execute(
                    "INSERT INTO core.credentials (credential_id, tenant_id, employee_id, credential_type, issuer,"
                    " rule_version, issue_date, status, evidence, rule_id, award_id, created_at) VALUES (%s,%s,%s,%s,"
                    "'credsync-training','1',%s,'active','{}'::jsonb,%s,%s,%s)",
                    (uuid.uuid4(), tenant, employee, ctype, T0.date(), rule_id, uuid.uuid4(), T0 + timedelta(days=5)))
        conn.commit()
    return ids


def received(url: str) -> dict[str, Any]:
    return requests.get(f"{url}/sandbox/received", timeout=10).json()


def ledger(url: str, tenant: str) -> dict[str, tuple[str, str | None]]:
    with connect(url) as conn:
        return {str(sid): (state, rule) for sid, state, rule in conn.execute(
            "SELECT statement_id, state, refused_rule FROM core.national_lrs_statements WHERE tenant_id = %s",
            (tenant,))}


def dead_letters(url: str, tenant: str) -> dict[str, str]:
    with connect(url) as conn:
        return dict(conn.execute("SELECT entity_key, reason FROM audit.dead_letters WHERE tenant_id = %s AND"
                                 " source = 'national_lrs'", (tenant,)).fetchall())


def test_demo_tenants_statements_pass_the_checklist_and_land_once(warehouse, lrs) -> None:
    for tenant in DEMO:
        seed(warehouse, tenant)
        profile = profile_of(get_tenant(tenant))
        result = forward(warehouse, tenant, profile, client(lrs, tenant))
        # 3 learners x (CPR: registered, 2 attempts, progressed, completed; SAFETY: registered, progressed,
        # completed; FORKLIFT: registered, attempt, progressed, completed) + 2 earned each
        assert result.built == 3 * (5 + 3 + 4 + 2)
        assert (result.refused, result.dead, result.learners_refused) == (0, 0, 0), dead_letters(warehouse, tenant)
        assert result.acknowledged == result.built and result.remaining == 0
        held = ledger(warehouse, tenant)
        assert {state for state, _ in held.values()} == {"acknowledged"}
        again = forward(warehouse, tenant, profile, client(lrs, tenant))
        assert (again.recorded, again.sent, again.acknowledged) == (0, 0, 0)
    seen = received(lrs)
    assert sorted(seen["stored"]) == sorted(set(ledger(warehouse, "acme")) | set(ledger(warehouse, "globex")))
    assert set(seen["received"].values()) == {1}

    stored = requests.get(f"{lrs}/xapi/statements", timeout=10).json()["statements"]
    registered = [s for s in stored if s["verb"]["id"].endswith("/registered")]
    assert {s["context"]["extensions"]["https://nelc.gov.sa/extensions/learner_full_name"] for s in registered} \
        == {"سارة الحربي"}  # the Arabic name goes where names go, and only there
    assert all(set(s["actor"]) == {"objectType", "name", "account"} for s in stored)  # no email leaves
    earned = [s for s in stored if s["verb"]["id"].endswith("/earned")]
    assert all(s["context"]["extensions"][EXT_JWS_CERTIFICATE] != s["object"]["id"] for s in earned)
    assert len({s["context"]["extensions"][EXT_JWS_CERTIFICATE] for s in earned}) == len(earned)


def _violations(statements: list[dict[str, Any]], template_url: str) -> dict[str, dict[str, Any]]:
    """One seeded statement per checklist rule, built from accepted ones of the demo journey."""
    def pick(verb: str, actor: str | None = None, course: str = "CPR-101") -> dict[str, Any]:
        for s in statements:
            f = facts(s)
            if f.verb == verb and f.course_id.endswith(course) and (actor is None or f.actor == actor):
                return copy.deepcopy(s)
        raise AssertionError(verb)

    def fresh(s: dict[str, Any]) -> dict[str, Any]:
        s["id"] = str(uuid.uuid4())
        return s

    first_actor = facts(statements[0]).actor
    other_actor = next(facts(s).actor for s in statements if facts(s).actor != first_actor)
    duplicate = fresh(pick("attempted", first_actor))
    backwards = fresh(pick("progressed", first_actor))
    backwards["result"]["score"]["scaled"] = 0.5
    skipped = fresh(pick("attempted", first_actor))
    skipped["context"]["extensions"][EXT_ATTEMPT_ID] = 4
    extension = fresh(pick("attempted", first_actor))  # the next attempt (3), but with lms_url on it
    extension["context"]["extensions"][EXT_ATTEMPT_ID] = 3
    extension["context"]["extensions"][EXT_LMS_URL] = "https://lms.acme.example"
    same_url = fresh(pick("earned", first_actor))
    same_url["object"]["id"] = same_url["context"]["extensions"][EXT_JWS_CERTIFICATE] = \
        same_url["object"]["id"].replace("certificate/", "certificate/x")
    template = fresh(pick("earned", first_actor))
    template["object"]["id"] += "-copy"
    template["context"]["extensions"][EXT_JWS_CERTIFICATE] = template_url
    someone_elses = fresh(pick("earned", other_actor))
    someone_elses["actor"] = copy.deepcopy(pick("earned", first_actor)["actor"])
    bad_id = fresh(pick("registered", first_actor, "SAFETY-100"))
    bad_id["actor"]["name"] = bad_id["actor"]["account"]["name"] = "1000000000"  # check digit wrong
    return {"duplicate_statement": duplicate, "progress_not_forward": backwards,
            "attempt_id_not_sequential": skipped, "extension_not_allowed": extension,
            "certificate_id_is_url": same_url, "certificate_is_template": template,
            "certificate_is_template ": someone_elses, "national_id_invalid": bad_id}


def test_each_seeded_violation_is_refused_with_its_rule_and_never_sent(warehouse, lrs) -> None:
    tenant = "acme"
    seed(warehouse, tenant)
    profile = profile_of(get_tenant(tenant))
    forward(warehouse, tenant, profile, client(lrs, tenant))
    with connect(warehouse) as conn:
        accepted, _ = build_statements(conn, tenant, profile, load_rules())
    seeded = _violations(accepted, profile.certificate_url.replace("{award_id}", "template"))
    seeded["certificate_is_template"]["context"]["extensions"][EXT_JWS_CERTIFICATE] = profile.certificate_url

    result = forward(warehouse, tenant, profile, client(lrs, tenant), statements=list(seeded.values()))
    assert (result.recorded, result.refused, result.sent) == (len(seeded), len(seeded), 0)
    letters = dead_letters(warehouse, tenant)
    held = ledger(warehouse, tenant)
    for rule, statement in seeded.items():
        assert letters[statement["id"]] == rule.strip(), (rule, letters.get(statement["id"]))
        assert held[statement["id"]] == ("dead", rule.strip())
        assert statement["id"] not in received(lrs)["received"]

    # The LRS applies the same checklist: posted straight to it, each is refused naming the rule.
    for rule, statement in seeded.items():
        outcome = client(lrs, tenant).post([statement])
        assert (outcome.status, outcome.rule) == (400, rule.strip()), (rule, outcome.error)
    assert forward(warehouse, tenant, profile, client(lrs, tenant), statements=list(seeded.values())).recorded == 0


def test_the_lrs_refusal_and_a_conflicting_id_are_dead_lettered_with_the_reason(warehouse, lrs) -> None:
    tenant = "acme"
    seed(warehouse, tenant, learners=1)
    profile = profile_of(get_tenant(tenant))
    forward(warehouse, tenant, profile, client(lrs, tenant))
    with connect(warehouse) as conn:
        accepted, _ = build_statements(conn, tenant, profile, load_rules())
    # Held by the LRS but not by this ledger (another system sent it): same id, other content -> 409.
    clash = copy.deepcopy(accepted[0])
    clash["timestamp"] = "2026-03-09T00:00:00.000Z"
    with connect(warehouse) as conn:
        conn.execute("DELETE FROM core.national_lrs_statements WHERE statement_id = %s", (clash["id"],))
        conn.commit()
    result = forward(warehouse, tenant, profile, client(lrs, tenant), statements=[clash], gate=False)
    assert (result.sent, result.dead) == (1, 1)
    assert dead_letters(warehouse, tenant)[clash["id"]] == "statement_id_conflict"


def test_under_faults_the_lrs_receives_each_statement_exactly_once(warehouse, lrs) -> None:
    tenant = "globex"
    seed(warehouse, tenant, learners=6)
    profile = profile_of(get_tenant(tenant))
    faults = {"error_rate": 0.3, "reset_rate": 0.3, "seed": 11, "paths": ["/xapi"]}
    requests.put(f"{lrs}/admin/faults", json=faults, timeout=10).raise_for_status()
    runs = 0
    while True:  # a try that outlasts the retries leaves 'sent' rows; the next try resends them
        runs += 1
        try:
            result = forward(warehouse, tenant, profile, client(lrs, tenant), batch_size=5)
        except ForwardIncomplete:
            assert runs < 10
            continue
        if result.remaining == 0:
            break
    requests.delete(f"{lrs}/admin/faults", timeout=10).raise_for_status()

    held = ledger(warehouse, tenant)
    assert len(held) == 6 * 14 and {s for s, _ in held.values()} == {"acknowledged"}
    seen = received(lrs)
    assert sorted(seen["stored"]) == sorted(held)  # each statement stored, once
    assert max(seen["received"].values()) > 1  # answers were lost and the statements resent
    stored = requests.get(f"{lrs}/xapi/statements", timeout=10).json()["statements"]
    assert len(stored) == len({s["id"] for s in stored}) == len(held)
    assert not dead_letters(warehouse, tenant)


def test_the_gx_gate_blocks_an_outgoing_batch_and_nothing_is_sent(warehouse, lrs) -> None:
    tenant = "acme"
    seed(warehouse, tenant, learners=1)
    profile = profile_of(get_tenant(tenant))
    with connect(warehouse) as conn:
        statements, _ = build_statements(conn, tenant, profile, load_rules())
    statements[0]["context"]["language"] = "ar"  # not a language code the national LRS takes (ar-SA, en-US)
    with pytest.raises(NationalGateFailed, match="language_code"):
        forward(warehouse, tenant, profile, client(lrs, tenant), statements=statements)
    assert received(lrs)["received"] == {}
    assert ledger(warehouse, tenant) == {}  # nothing recorded: the fixed rerun builds and checks them afresh
    result = forward(warehouse, tenant, profile, client(lrs, tenant))
    assert result.acknowledged == result.built == 14
