"""The erasure primitives on a real Postgres: grants, hostile values, neighbours left alone, both modes.

Rows are written straight into the tables here (the full flows are tests/integration/governance/
test_erasure.py): the point is what the rewrite does to awkward values, and under which role.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from credsync.audit.chain import append_event, verify_chain
from credsync.governance import pseudonymise as psn
from credsync.governance.erasure import erase_worker, scrub_text
from credsync.warehouse import connect

KEY = psn.tenant_key("acme", secret=b"k" * 48)
POLICY = {"keep_records": [{"when": {"employment_type": "contractor"}, "basis": "contract records"}],
          "reidentify_approvers": ["dpo@acme.example"]}


def add_worker(conn, employee_id: str, given: str, family: str, email: str, *, kind: str = "employee",
               national_id: str | None = None, given_ar: str | None = None) -> None:
    batch = uuid.uuid4()
    conn.execute(
        "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name, work_email,"
        " email_normalized, employment_status, employment_type, source_updated_at, mapping_version, last_batch_id)"
        " VALUES ('acme', %s, 'hris_main', %s, %s, %s, lower(%s), 'active', %s, now(), 'v1', %s)",
        (employee_id, given, family, email, email, kind, batch))
    conn.execute(
        "INSERT INTO staging.hris_workers (batch_id, tenant_id, row_number, employee_id, given_name, family_name,"
        " work_email, mapping_version, national_id, given_name_ar)"
        " VALUES (%s, 'acme', 1, %s, %s, %s, %s, 'v1', %s, %s)",
        (batch, employee_id, given, family, email, national_id, given_ar))
    append_event(conn, tenant_id="acme", event_type="scim_user_updated", entity_type="worker", entity_key=employee_id,
                 detail={"userName": email, "displayName": f"{given} {family}"})


def row_text(conn, sql: str, *params: object) -> str:
    return " ".join(str(r) for r in conn.execute(sql, params).fetchall())


def test_hostile_values_are_replaced_and_neighbours_keep_theirs(fresh_warehouse_url) -> None:
    with connect(fresh_warehouse_url) as conn:
        # Regex metacharacters, an apostrophe, a '+' alias, Arabic script, a national id.
        add_worker(conn, "E1", "Ré(n)ée.*", "O'Brien [x]", "Renee+tag@Acme.example", kind="contractor",
                   national_id="1234567890", given_ar="رينيه")
        add_worker(conn, "E10", "Ré(n)ée.*", "Smith", "other@acme.example")  # same first name, id with E1 prefix
        conn.execute("INSERT INTO core.scim_actions (tenant_id, employee_id, scim_id, action, outcome, detail)"
                     " VALUES ('acme', 'E1', 'E1:user', 'update', 'failed',"
                     " 'userName Renee+tag@acme.example taken; E10 keeps other@acme.example')")
        conn.commit()
        report = erase_worker(conn, "acme", "E1", request_id="t-1", source="manual", policy=POLICY, key=KEY,
                              store_roots=[])
        conn.commit()
        assert report.mode == "pseudonymise" and report.values["national_id"] == 1 and report.values["name"] >= 3
        subject = psn.pseudonym("acme", "E1", key=KEY)
        everything = " ".join(row_text(conn, f"SELECT x::text FROM {table} x")
                              for table in ("core.workers", "staging.hris_workers", "core.scim_actions"))
        for original in ("O'Brien", "Renee+tag", "renee+tag", "1234567890", "رينيه", "E1,", "(E1,"):
            assert original not in everything, original
        # The colleague keeps the shared first name and an id that merely starts with E1.
        kept = conn.execute("SELECT given_name FROM core.workers WHERE employee_id = 'E10'").fetchone()[0]
        assert kept == "Ré(n)ée.*"
        assert conn.execute("SELECT count(*) FROM core.workers WHERE employee_id IN ('E10', %s)",
                            (subject,)).fetchone()[0] == 2
        # Free text: the worker's values inside a longer sentence go, the colleague's stay.
        scim_id, detail = conn.execute("SELECT scim_id, detail FROM core.scim_actions").fetchone()
        email = psn.pseudonym("acme", "renee+tag@acme.example", kind="email", key=KEY)
        assert (scim_id, detail) == (f"{subject}:user", f"userName {email} taken; E10 keeps other@acme.example")
        assert verify_chain(conn).ok
        keys = conn.execute("SELECT entity_key FROM audit.events WHERE event_type = 'scim_user_updated'"
                            " ORDER BY event_id").fetchall()
        assert keys == [(subject,), ("E10",)]


def test_erase_mode_deletes_staging_keeps_no_mapping_and_runs_as_the_runtime_role(fresh_warehouse_url) -> None:
    with connect(fresh_warehouse_url) as conn:
        add_worker(conn, "E2", "Ottoline", "Vexworth", "ottoline@acme.example")
        conn.commit()
        conn.execute("SET ROLE credsync_runtime")  # the pipeline's role, as the DAG task connects
        report = erase_worker(conn, "acme", "E2", request_id="t-2", source="manual", policy=POLICY, key=KEY,
                              store_roots=[])
        conn.commit()
        assert report.mode == "erase" and report.deleted == {"staging.hris_workers": 1}
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM vault.pseudonyms")
        conn.rollback()
        conn.execute("RESET ROLE")
        assert conn.execute("SELECT count(*) FROM vault.pseudonyms").fetchone()[0] == 0
        token = conn.execute("SELECT employee_id, given_name FROM core.workers").fetchone()
        assert token[0].startswith("erased_") and token[1].startswith("erased_")
        again = erase_worker(conn, "acme", "E2", request_id="t-2", source="manual", policy=POLICY, key=KEY,
                             store_roots=[])
        assert again.already_done and again.changed == 0


def test_reidentification_needs_the_vault_role_and_a_listed_approver(fresh_warehouse_url) -> None:
    with connect(fresh_warehouse_url) as conn:
        add_worker(conn, "E3", "Perpetua", "Glasswick", "perpetua@acme.example", kind="contractor")
        conn.commit()
        conn.execute("SET ROLE credsync_runtime")  # writes the mapping it can never read back
        erase_worker(conn, "acme", "E3", request_id="t-3", source="manual", policy=POLICY, key=KEY, store_roots=[])
        conn.commit()
        subject = psn.pseudonym("acme", "E3", key=KEY)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            psn.reidentify(conn, "acme", subject, approver="dpo@acme.example", reason="subject access request 77",
                           approvers=POLICY["reidentify_approvers"], key=KEY)
        conn.rollback()
        conn.execute("SET ROLE credsync_reidentifier")
        for approver, reason in (("", "subject access request 77"), ("dpo@acme.example", "why"),
                                 ("eve@acme.example", "subject access request 77")):
            with pytest.raises(psn.ReidentificationRefused):
                psn.reidentify(conn, "acme", subject, approver=approver, reason=reason,
                               approvers=POLICY["reidentify_approvers"], key=KEY)
        found = psn.reidentify(conn, "acme", subject, approver="DPO@acme.example", reason="subject access request 77",
                               approvers=POLICY["reidentify_approvers"], key=KEY)
        assert (found.original, found.kind) == ("E3", "employee_id")
        # A key that is not the tenant's opens nothing (AES-GCM authenticates tenant, pseudonym and kind).
        from cryptography.exceptions import InvalidTag

        with pytest.raises(InvalidTag):
            psn.reidentify(conn, "acme", subject, approver="dpo@acme.example", reason="subject access request 77",
                           approvers=POLICY["reidentify_approvers"], key=psn.tenant_key("acme", secret=b"z" * 48))
        conn.commit()
        conn.execute("RESET ROLE")
        outcomes = conn.execute("SELECT outcome, count(*) FROM vault.reidentifications"
                                " GROUP BY 1 ORDER BY 1").fetchall()
        assert outcomes == [("refused", 3), ("revealed", 2)]


def test_pseudonyms_are_deterministic_per_tenant_and_need_a_real_key() -> None:
    other = psn.tenant_key("globex", secret=b"k" * 48)
    assert psn.pseudonym("acme", "E1", key=KEY) == psn.pseudonym("acme", "E1", key=KEY)
    assert psn.pseudonym("acme", "E1", key=KEY) != psn.pseudonym("globex", "E1", key=other)
    assert psn.pseudonym("acme", "E1", key=KEY) != psn.pseudonym("acme", "E1", kind="name", key=KEY)
    assert psn.is_pseudonym(psn.pseudonym("acme", "x", key=KEY)) and not psn.is_pseudonym("psn_short")


def test_file_lines_lose_names_only_next_to_an_identifier() -> None:
    from credsync.governance.erasure import _Replacements

    replacements = _Replacements(identifiers=[("employee_id", "E1", "psn_a"), ("email", "ann@x.example", "psn_b")],
                                 names=[("name", "Ann", "psn_c")])
    text = "employee_id,name\r\nE1,Ann\r\nE10,Ann\r\nANN@X.EXAMPLE wrote\r\n"
    scrubbed, count = scrub_text(text, replacements)
    assert scrubbed == "employee_id,name\r\npsn_a,psn_c\r\nE10,Ann\r\npsn_b wrote\r\n" and count == 3
