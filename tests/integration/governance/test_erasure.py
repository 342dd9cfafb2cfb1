"""Erasure (issue #19): an HRIS erasure request leaves none of the worker's values anywhere credsync holds them.

Two workers are seeded through the real flows (HRIS sandbox -> delta export -> GX gate -> core.workers
-> SCIM provisioning into the LMS sandbox, the consent ledger, an HRIS file drop and a payroll CSV in
the object store): a contractor (the tenant's policy keeps contractors' records: pseudonymised) and an
active employee (no basis: erased). Each asks the HRIS to be erased; the HRIS sends its signed
``worker.erasure_requested`` webhook to credsync's receiver, which records it; the erasure runs as
the ``erasure`` DAG's task does. Then every text, jsonb and array column of every table in every
schema of the warehouse, and every file of the object store, is scanned for the original values.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from datetime import date
from pathlib import Path

import psycopg
import pytest
import requests

from credsync.audit.chain import verify_chain
from credsync.delivery.writeback import Writeback, write_payroll_csv
from credsync.governance import __main__ as cli
from credsync.governance.consent import record
from credsync.governance.erasure_flow import request_from_conf, run_request
from credsync.people.webhook_app import connection_secret, create_app
from credsync.people.webhooks import WebhookReceiver
from credsync.warehouse import connect
from tests.integration.people.conftest import people_env  # noqa: F401 - the seeded HRIS/SCIM fixture
from tests.integration.people.test_hris_webhooks import run_like_the_dags, serve

pytestmark = pytest.mark.slow

CONTRACTOR = {"employee_id": "ZQ77031", "given": "Zephyrine", "family": "Quillfeather",
              "email": "zephyrine.quillfeather@acme.example", "type": "contractor"}
EMPLOYEE = {"employee_id": "WX55218", "given": "Balthazar", "family": "Wrenbottom",
            "email": "balthazar.wrenbottom@acme.example", "type": "employee"}
NATIONAL_IDS = {"ZQ77031": "1098765432", "WX55218": "2087654321"}


def hris_worker(person: dict) -> dict:
    return {"employee_id": person["employee_id"], "source_system": "hris_main",
            "name": {"given": person["given"], "family": person["family"], "preferred": None},
            "emails": {"work": person["email"].replace("@", "+lms@"), "personal": None},
            "employment": {"status": "active", "type": person["type"], "hire_date": "2024-03-01",
                           "department": "Field Service", "job_title": "Technician", "manager_id": None,
                           "location": "Riyadh"},
            "compensation": {"salary_band": "B2"}}


def originals(person: dict) -> list[str]:
    return [person["employee_id"], person["given"], person["family"], person["email"].split("@")[0],
            NATIONAL_IDS[person["employee_id"]]]


def scan_warehouse(url: str, values: list[str]) -> dict[str, list[str]]:
    """{value: ["schema.table.column", ...]} for every column anywhere that contains the value."""
    hits: dict[str, list[str]] = {}
    with connect(url) as conn:
        columns = conn.execute(
            "SELECT c.table_schema, c.table_name, c.column_name FROM information_schema.columns c"
            " JOIN information_schema.tables t USING (table_schema, table_name)"
            " WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')"
            " AND (c.data_type IN ('text', 'character varying', 'jsonb', 'json', 'ARRAY', 'bytea')"
            "      OR c.udt_name IN ('text', 'jsonb'))").fetchall()
        assert {s for s, _, _ in columns} >= {"staging", "core", "audit", "recon", "vault"}
        for schema, table, column in columns:
            found = conn.execute(
                psycopg.sql.SQL("SELECT v FROM unnest(%s::text[]) v WHERE EXISTS (SELECT 1 FROM {}.{} x"
                                " WHERE strpos(lower(x.{}::text), lower(v)) > 0)").format(
                    psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table), psycopg.sql.Identifier(column)),
                (values,)).fetchall()
            for (value,) in found:
                hits.setdefault(value, []).append(f"{schema}.{table}.{column}")
    return hits


def scan_files(root: Path, values: list[str]) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for path in root.rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="replace").lower()
            for value in values:
                if value.lower() in text:
                    hits.setdefault(value, []).append(str(path.relative_to(root)))
    return hits


def table_digest(url: str) -> str:
    with connect(url) as conn:
        tables = conn.execute("SELECT table_schema || '.' || table_name FROM information_schema.tables"
                              " WHERE table_type = 'BASE TABLE'"
                              " AND table_schema IN ('staging', 'core', 'recon', 'vault') ORDER BY 1").fetchall()
        digest = hashlib.sha256()
        for (table,) in tables:
            for (row,) in conn.execute(f"SELECT x::text FROM {table} x ORDER BY 1").fetchall():
                digest.update(row.encode())
    return digest.hexdigest()


@pytest.fixture
def erasure_env(people_env, tmp_path, monkeypatch, sandboxes):  # noqa: F811
    store = tmp_path / "store"
    monkeypatch.setenv("CREDSYNC_OBJECT_STORE", store.as_uri())
    # The HRIS drops its CSV files into credsync's store (hris_drop/), as in a deployment.
    monkeypatch.setenv("CREDSYNC_HRIS_DROP", (Path(sandboxes.data_dir) / "hris_drop").as_uri())
    monkeypatch.setenv("AIRFLOW_CONN_CREDSYNC_PSEUDONYM_KEY",
                       json.dumps({"conn_type": "generic", "password": secrets.token_urlsafe(48)}))
    secret = secrets.token_urlsafe(32)
    conn_var = "AIRFLOW_CONN_HRIS_ACME"
    monkeypatch.setenv(conn_var, json.dumps({**json.loads(os.environ[conn_var]), "extra": {"webhook_secret": secret}}))
    people_env.hris_admin("POST", "seed", json={"workers": 20, "seed": 5})
    for person in (CONTRACTOR, EMPLOYEE):
        requests.put(f"{people_env.hris_url}/admin/tenants/acme/workers/{person['employee_id']}",
                     json=hris_worker(person), timeout=30).raise_for_status()
    yield people_env, store, secret
    people_env.hris_admin("DELETE", "webhook")


def test_an_erasure_request_leaves_no_original_value_and_reidentification_is_audited(erasure_env, capsys):
    env, store, secret = erasure_env
    url = env.warehouse_url
    run_like_the_dags(url, "acme", "seed")
    env.hris_admin("POST", "filedrop")  # a CSV drop of every worker, names and e-mails included
    with connect(url) as conn:
        for person in (CONTRACTOR, EMPLOYEE):
            record(conn, tenant_id="acme", employee_id=person["employee_id"], purpose="registry_sharing",
                   action="grant", source="form")
        # credsync holds no national id column yet: a table a later migration adds is found too.
        conn.execute("CREATE TABLE core.national_identities (tenant_id text, employee_id text, national_id text,"
                     " PRIMARY KEY (tenant_id, employee_id))")
        conn.cursor().executemany("INSERT INTO core.national_identities VALUES ('acme', %s, %s)",
                                  list(NATIONAL_IDS.items()))
        conn.commit()
    flags = [Writeback(p["employee_id"], "payroll_flag", "forklift", f"cred-{p['employee_id']}", "active",
                       f"{p['given']} {p['family']}: forklift licence", date(2026, 1, 1), None,
                       {"active": True, "effective_from": "2026-01-01", "effective_to": None})
             for p in (CONTRACTOR, EMPLOYEE)]
    write_payroll_csv(None, "acme", date(2026, 1, 2), flags)
    values = originals(CONTRACTOR) + originals(EMPLOYEE)
    before = scan_warehouse(url, values)
    assert {"core.workers.given_name", "core.learners.user_name", "core.consent_events.employee_id",
            "staging.hris_workers.work_email"} <= set(before[CONTRACTOR["employee_id"]] + before["Zephyrine"]
                                                       + before[CONTRACTOR["email"].split("@")[0]])
    assert scan_files(store, values), "the store holds the workers' files before the erasure"
    assert scan_files(Path(os.environ["CREDSYNC_HRIS_DROP"].removeprefix("file://")), values)

    # The HRIS's privacy tooling: one erasure request per worker, sent as signed webhooks.
    triggered: list[tuple[str, str]] = []
    receiver = WebhookReceiver(url, secret_for=connection_secret,
                               trigger=lambda e: triggered.append((e.type, e.event_id)) or f"run-{e.event_id}")
    with serve(create_app(receiver)) as receiver_url:
        env.hris_admin("PUT", "webhook", json={"url": f"{receiver_url}/hris/acme/webhooks",
                                               "secret": secret})
        for person in (CONTRACTOR, EMPLOYEE):
            sent = env.hris_admin("POST", f"workers/{person['employee_id']}/erasure-request", json={})
            last = env.hris_admin("GET", "webhook-deliveries")["data"][-1]
            assert sent["delivered"] == 1 and sent["purged_rows"] >= 1, json.dumps(last)
    assert [t for t, _ in triggered] == ["worker.erasure_requested"] * 2

    reports = [run_request(url, request_from_conf({"hris_erasure": {"tenant_id": "acme", "event_id": event_id}}, {}))
               for _, event_id in triggered]
    assert [r["mode"] for r in reports] == ["pseudonymise", "erase"]
    assert reports[0]["basis"].startswith("contractor engagement records")
    assert reports[0]["tables"]["core.workers"] >= 1 and reports[0]["audit_events"] >= 1
    assert reports[1]["deleted"].get("staging.hris_workers", 0) >= 1
    assert all(r["files"] for r in reports), reports

    # The scan: nothing anywhere, the keyed mapping included (it holds ciphertext only).
    assert scan_warehouse(url, values) == {}
    drop = Path(os.environ["CREDSYNC_HRIS_DROP"].removeprefix("file://"))
    data_docs = Path(os.environ["CREDSYNC_DATA_DOCS_STORE"].removeprefix("file://"))
    assert scan_files(store, values) == {} and scan_files(drop, values) == {}
    assert scan_files(data_docs, values) == {}
    with connect(url) as conn:
        assert verify_chain(conn).ok, "the audit chain still verifies after the tombstones"
        subject = reports[0]["subject"]
        kept = conn.execute("SELECT employment_type, department FROM core.workers WHERE employee_id = %s",
                            (subject,)).fetchone()
        assert kept == ("contractor", "Field Service"), "the contractor's record is kept, under the pseudonym"
        assert conn.execute("SELECT count(*) FROM core.workers WHERE employee_id LIKE 'erased\\_%%'").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM vault.pseudonyms").fetchone()[0] >= 4  # id, names, e-mails
        # The pipeline's own role may add mappings but never read them.
        conn.execute("SET ROLE credsync_runtime")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT original FROM vault.pseudonyms")
        conn.rollback()

    # A rerun (a cleared task, a redelivered event) does nothing more.
    digest = table_digest(url)
    again = run_request(url, request_from_conf({"hris_erasure": {"tenant_id": "acme", "event_id": triggered[0][1]}},
                                                {}))
    assert again["changed"] == 0 and again["already_done"]
    assert table_digest(url) == digest

    # Re-identification: refused for someone the tenant does not list, allowed for its DPO; both audited.
    assert cli.main(["reidentify", "--tenant", "acme", "--pseudonym", subject, "--approver", "mallory@acme.example",
                     "--reason", "curious about who this is", "--warehouse-url", url]) == 3
    assert "REFUSED" in capsys.readouterr().out
    assert cli.main(["reidentify", "--tenant", "acme", "--pseudonym", subject, "--approver", "dpo@acme.example",
                     "--reason", "tax audit 2026-114 needs the contractor's identity", "--warehouse-url", url]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["original"], shown["kind"]) == (CONTRACTOR["employee_id"], "employee_id")
    with connect(url) as conn:
        events = conn.execute("SELECT event_type, detail->>'approver' FROM audit.events WHERE entity_key = %s"
                              " AND event_type LIKE 'pseudonym_reid%%' ORDER BY event_id", (subject,)).fetchall()
        assert events == [("pseudonym_reidentification_refused", "mallory@acme.example"),
                          ("pseudonym_reidentified", "dpo@acme.example")]
        assert verify_chain(conn).ok
    # The erased worker has no way back at all.
    assert cli.main(["reidentify", "--tenant", "acme", "--pseudonym", reports[1]["subject"], "--approver",
                     "dpo@acme.example", "--reason", "tax audit 2026-114 needs this one", "--warehouse-url", url]) == 3
