"""A 10 MB value is not stored whole in audit.quarantine, on either ingestion path: the stored record
stays under the cap and names the value's length and sha256, so it can be found at its source.
Real Postgres, the functions the DAG tasks call (HRIS ``flow.extract_and_stage``, LMS ``stage_pull``)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

from credsync.learning.pull import stage_pull
from credsync.people import flow
from credsync.quality.quarantine import MAX_STORED_RECORD
from credsync.warehouse import connect

TENANT = "acme"
TEN_MB = 10 * 1024 * 1024


def worker(employee_id: str, given: str) -> dict:
    return {"source_system": "hris_main", "employee_id": employee_id, "name": {"given": given, "family": "Huge"},
            "emails": {"work": f"{employee_id.lower()}@acme.example"},
            "employment": {"status": "active", "type": "employee", "hire_date": "2021-03-01"},
            "updated_at": "2025-06-01T00:00:00Z"}


class Export:
    """An HRIS delta as the hook yields it."""

    as_of = "2025-06-01T00:00:00Z"

    def __init__(self, records: list[dict]) -> None:
        self.records = records

    def __iter__(self) -> Iterator[dict]:
        return iter(self.records)


def stored(url: str, record_key: str) -> tuple[str, int, str]:
    """(rule, bytes of the stored record's JSON text, that text) of the record's quarantine row."""
    with connect(url) as conn:
        [(rule, size, text)] = conn.execute(
            "SELECT rule, octet_length(record::text), record::text FROM audit.quarantine WHERE record_key = %s",
            (record_key,)).fetchall()
    return rule, size, text


def test_the_10_mb_name_is_quarantined_cut_with_its_length_and_hash(fresh_warehouse_url) -> None:
    name = "A" * TEN_MB
    digest = hashlib.sha256(name.encode()).hexdigest()
    staged = flow.extract_and_stage(fresh_warehouse_url, tenant_id=TENANT, open_export=lambda _since: Export(
        [worker("E1", "Ann"), worker("CX0209", name), worker("E2", "Bob")]))
    assert (staged["records_in"], staged["quarantined"]) == (3, 1)

    rule, size, text = stored(fresh_warehouse_url, "CX0209")
    assert rule == "max_length"
    assert size < MAX_STORED_RECORD, f"audit.quarantine.record holds {size} bytes"
    assert f"{TEN_MB} characters, sha256 {digest}" in text
    assert '"family": "Huge"' in text and '"employee_id": "CX0209"' in text  # the rest of the record is kept


def test_a_10_mb_statement_field_is_quarantined_cut_with_its_length_and_hash(fresh_warehouse_url) -> None:
    name = "B" * TEN_MB
    digest = hashlib.sha256(name.encode()).hexdigest()
    huge_id = str(uuid.uuid4())

    def statement(statement_id: str, account: str) -> dict:
        return {"id": statement_id, "stored": "2025-05-01T10:00:01Z", "timestamp": "2025-05-01T10:00:00Z",
                "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.acme.example", "name": account}},
                "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
                "object": {"objectType": "Activity", "id": "https://lms.acme.example/courses/CPR-101"},
                "result": {"score": {"scaled": 0.9}, "success": True}, "version": "1.0.3"}

    with connect(fresh_warehouse_url, autocommit=True) as conn:
        batch, _ = stage_pull(conn, tenant_id=TENANT,
                              statements=[statement(str(uuid.uuid4()), "E1"), statement(huge_id, name)])
        assert (batch.records_in, batch.records_quarantined) == (2, 1)
        [(staged_size,)] = conn.execute(
            "SELECT octet_length(raw::text) FROM staging.completions WHERE batch_id = %s AND source_id = %s",
            (batch.batch_id, huge_id)).fetchall()
    assert staged_size < MAX_STORED_RECORD, "the staged copy of the quarantined statement is kept whole"

    rule, size, text = stored(fresh_warehouse_url, huge_id)
    assert rule == "max_length"
    assert size < MAX_STORED_RECORD, f"audit.quarantine.record holds {size} bytes"
    assert f"{TEN_MB} characters, sha256 {digest}" in text
    assert huge_id in text and "CPR-101" in text
