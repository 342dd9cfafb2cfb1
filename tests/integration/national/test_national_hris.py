"""National fields through the HRIS path: National ID / Iqama validated and quarantined with the rule
named, Arabic (ar-SA) names carried into core.workers, hostile names refused by the usual guards;
then on to the one place names leave for the national LRS (the registered statement)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from credsync.credentials.rules import load_rules
from credsync.mapping import national_id as nid
from credsync.national.forward import build_statements
from credsync.national.hris import hris_supplements, national_mapping
from credsync.national.vocabulary import EXT_LEARNER_FULL_NAME
from credsync.national_profile import profile_of
from credsync.people import flow
from credsync.people.staging import stage_workers
from credsync.tenants import get_tenant
from credsync.warehouse import connect
from tests.conftest import migrated_database

TENANT = "acme"
CITIZEN, RESIDENT = nid.with_check_digit("100000001"), nid.with_check_digit("200000002")
OTHER = "4000000001"  # 4...: NELC accepts it; no published check digit, so only the form is checked


def worker(employee_id: str, national_id: object, given_ar: str | None = "سارة", family_ar: str | None = "الحربي"
           ) -> dict:
    return {"source_system": "hris_main", "employee_id": employee_id, "name": {"given": "Sara", "family": "Harbi"},
            "name_ar": {"given": given_ar, "family": family_ar}, "national_id": national_id,
            "emails": {"work": f"{employee_id.lower()}@acme.example"},
            "employment": {"status": "active", "type": "employee"}, "updated_at": "2026-05-01T00:00:00Z"}


RECORDS = [
    worker("E1", CITIZEN), worker("E2", RESIDENT), worker("E3", OTHER),
    worker("E4", "".join(chr(0x0660 + int(d)) for d in nid.with_check_digit("100000003"))),  # Eastern digits
    worker("E5", None, given_ar=None, family_ar=None),  # no national id held: loads, never goes to the LRS
    worker("X1", "100000000"),  # 9 digits
    worker("X2", "3000000004"),  # prefix 3
    worker("X3", CITIZEN[:-1] + str((int(CITIZEN[-1]) + 1) % 10)),  # wrong check digit
    worker("X4", "1000000O08"),  # a letter O among the digits
    worker("X5", RESIDENT, given_ar="سارة\u202e"),  # bidi override
    worker("X6", RESIDENT, family_ar="الحر\x00بي"),  # NUL
    worker("X7", RESIDENT, given_ar="سارة\u0061"),  # Arabic and a Latin a in one name
]


class Export:
    as_of = "2099-01-01T00:00:00Z"

    def __iter__(self) -> Iterator[dict]:
        return iter(RECORDS)


@pytest.fixture
def warehouse(postgres_server) -> Iterator[str]:
    with migrated_database(postgres_server) as url:
        yield url


def test_national_ids_are_validated_and_quarantined_with_the_rule_named(warehouse) -> None:
    with connect(warehouse) as conn:
        staged = stage_workers(conn, tenant_id=TENANT, records=RECORDS, supplements=(national_mapping(),))
    assert (staged.records_in, staged.records_loaded, staged.records_quarantined) == (12, 5, 7)
    with connect(warehouse) as conn:
        rules = dict(conn.execute("SELECT record_key, rule FROM audit.quarantine WHERE batch_id = %s",
                                  (staged.batch_id,)).fetchall())
        reasons = dict(conn.execute("SELECT record_key, reason FROM audit.quarantine WHERE batch_id = %s",
                                    (staged.batch_id,)).fetchall())
    assert rules == {"X1": "national_id_invalid", "X2": "national_id_invalid", "X3": "national_id_invalid",
                     "X4": "national_id_invalid", "X5": "control_characters", "X6": "control_characters",
                     "X7": "mixed_script"}
    assert "(length)" in reasons["X1"] and "(prefix)" in reasons["X2"] and "(check_digit)" in reasons["X3"]
    assert "hris_worker_national_v1.csv" in reasons["X1"]  # the reason names the mapping file, row and field

    gated = flow.gate(warehouse, {"tenant_id": TENANT, "batch_id": staged.batch_id, **staged.as_counts(),
                                  "watermark": Export.as_of})
    assert gated["gate"] == "passed"
    flow.merge(warehouse, gated)
    with connect(warehouse) as conn:
        held = {e: (n, g, f) for e, n, g, f in conn.execute(
            "SELECT employee_id, national_id, given_name_ar, family_name_ar FROM core.workers WHERE tenant_id = %s",
            (TENANT,))}
    assert held == {"E1": (CITIZEN, "سارة", "الحربي"), "E2": (RESIDENT, "سارة", "الحربي"),
                    "E3": (OTHER, "سارة", "الحربي"), "E4": (nid.with_check_digit("100000003"), "سارة", "الحربي"),
                    "E5": (None, None, None)}

    # On to the national LRS: the Arabic name is the registered statement's learner_full_name, nothing else.
    with connect(warehouse) as conn:
        conn.execute("INSERT INTO core.completions (tenant_id, source, source_id, employee_id, course_code, verb,"
                     " success, score, completed_at, batch_id, mapping_version) SELECT tenant_id, 'lrs',"
                     " employee_id || '-1', employee_id, 'SAFETY-100', 'completed', true, NULL, now(), last_batch_id,"
                     " 'xapi_statement_v1' FROM core.workers WHERE tenant_id = %s", (TENANT,))
        conn.commit()
        statements, refused = build_statements(conn, TENANT, profile_of(get_tenant(TENANT)), load_rules())
    assert refused == []
    registered = [s for s in statements if s["verb"]["id"].endswith("/registered")]
    assert sorted(s["actor"]["name"] for s in registered) == sorted(n for n, _, _ in held.values() if n)
    assert {s["context"]["extensions"][EXT_LEARNER_FULL_NAME] for s in registered} == {"سارة الحربي"}
    assert all(EXT_LEARNER_FULL_NAME not in s["context"]["extensions"] for s in statements if s not in registered)


def test_only_a_profile_with_hris_fields_reads_the_national_fields(tmp_path: Path) -> None:
    tenants = Path(__file__).resolve().parents[3] / "include" / "tenants.yaml"
    assert hris_supplements(TENANT, tenants) == ()  # acme's demo HRIS sends no national fields
    # globex's demo HRIS does (the sandbox seeds it with national ids and Arabic names).
    assert [m.mapping_version for m in hris_supplements("globex", tenants)] == ["hris_worker_national_v1"]
    line = "      lms_url: https://lms.acme.example\n"
    text = tenants.read_text(encoding="utf-8").replace(line, line + "      hris_fields: true\n")
    text = "\n".join(row for row in text.splitlines() if not row.lstrip().startswith("hris_fields: true   #")) + "\n"
    opted = tmp_path / "tenants.yaml"
    opted.write_text(text, encoding="utf-8")
    assert [m.mapping_version for m in hris_supplements(TENANT, opted)] == ["hris_worker_national_v1"]
    assert hris_supplements("globex", opted) == ()


@pytest.mark.parametrize(("value", "valid"), [
    ("1000000008", True), ("2000000006", True), ("4123456789", True), ("1000000000", False),
    ("100000008", False), ("10000000088", False), ("3000000008", False), ("1000 00008", False),
    ("\u0661\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0660\u0668", True),
    ("\uff11\uff10\uff10\uff10\uff10\uff10\uff10\uff10" + "08", False),
])
def test_national_id_rule(value: str, valid: bool) -> None:
    assert nid.is_valid(value) is valid


def test_the_data_flow_report_lists_the_national_lrs_with_its_fields_and_region() -> None:
    from credsync.dataflow import flows

    report = [f for f in flows({"national_lrs_acme": "sa-riyadh"}.get) if f.destination == "national LRS"]
    by_tenant = {f.tenant_id: f for f in report}
    assert set(by_tenant) == {"acme", "globex"}
    assert (by_tenant["acme"].conn_id, by_tenant["acme"].region) == ("national_lrs_acme", "sa-riyadh")
    assert by_tenant["acme"].fields == ("actor_name", "learner_full_name_ar", "learner_full_name_en")


def test_a_hostile_name_in_core_never_leaves_for_the_national_lrs(warehouse) -> None:
    """Names reach core only through the HRIS guards; one written there another way is refused again on the way out."""
    with connect(warehouse) as conn:
        for employee, name_ar, national in (("E1", "سارة", CITIZEN), ("E2", "سارة\u202e", RESIDENT),
                                            ("E3", "سارة", "1000000000")):
            conn.execute(
                "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name,"
                " employment_status, employment_type, source_updated_at, mapping_version, last_batch_id,"
                " national_id, given_name_ar, family_name_ar) VALUES (%s,%s,'hris_main','Sara','Harbi','active',"
                " 'employee', now(), 'hris_worker_v1', gen_random_uuid(), %s, %s, 'الحربي')",
                (TENANT, employee, national, name_ar))
            conn.execute("INSERT INTO core.completions (tenant_id, source, source_id, employee_id, course_code, verb,"
                         " success, completed_at, batch_id, mapping_version) VALUES (%s, 'lrs', %s, %s, 'SAFETY-100',"
                         " 'completed', true, now(), gen_random_uuid(), 'xapi_statement_v1')",
                         (TENANT, f"{employee}-1", employee))
        conn.commit()
        statements, refused = build_statements(conn, TENANT, profile_of(get_tenant(TENANT)), load_rules())
    assert {s["actor"]["name"] for s in statements} == {CITIZEN}
    assert {(employee, rule) for employee, rule, _ in refused} == {("E2", "control_characters"),
                                                                   ("E3", "national_id_invalid")}
