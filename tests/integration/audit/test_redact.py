"""Tombstoning audit payloads (credsync.audit.redact): the payload goes, the chain still verifies.

Chains mix rows written before migration 0020 (hash_version 1, the detail hashed itself) with rows
written since (version 2, a salted digest of the detail hashed). Verification runs through the
project's own verifier and, with checkpoints, through the real CLI.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg.types.json import Jsonb

from credsync.audit import GENESIS_HASH, append_event, row_hash, verify_chain
from credsync.audit.redact import subject_event_ids, tombstone_events, tombstone_subject
from credsync.warehouse import connect


def _append_v1(conn: psycopg.Connection, tenant: str, entity_key: str, detail: dict) -> None:
    """A row as the code before migration 0020 wrote it (detail hashed itself, no digest)."""
    head = conn.execute("SELECT row_hash FROM audit.events WHERE tenant_id = %s ORDER BY event_id DESC LIMIT 1",
                        (tenant,)).fetchone()
    prev = head[0] if head else GENESIS_HASH
    moment = datetime.now(UTC)
    digest = row_hash(prev, tenant_id=tenant, event_type="worker.updated", entity_type="worker",
                      entity_key=entity_key, detail=detail, occurred_at=moment)
    conn.execute("INSERT INTO audit.events (tenant_id, event_type, entity_type, entity_key, detail, occurred_at,"
                 " prev_hash, row_hash) VALUES (%s, 'worker.updated', 'worker', %s, %s, %s, %s, %s)",
                 (tenant, entity_key, Jsonb(detail), moment, prev, digest))


@pytest.fixture
def mixed_chain(fresh_warehouse_url):
    """acme: 3 version-1 rows, then 4 version-2 rows; E1's email and id appear in both kinds."""
    with connect(fresh_warehouse_url) as conn:
        _append_v1(conn, "acme", "E1", {"email": "e1@example.com"})
        _append_v1(conn, "acme", "E2", {"email": "e2@example.com"})
        _append_v1(conn, "acme", "E1", {"changes": {"title": "Nurse"}})
        append_event(conn, tenant_id="acme", event_type="credential.issued", entity_type="credential",
                     entity_key="C-9", detail={"employee_id": "E1", "score": 91})
        append_event(conn, tenant_id="acme", event_type="credential.issued", entity_type="credential",
                     entity_key="C-10", detail={"employee_id": "E2"})
        append_event(conn, tenant_id="acme", event_type="worker.updated", entity_type="worker",
                     entity_key="E1", detail={"email": "e1.new@example.com", "nested": [{"who": "e1@example.com"}]})
        append_event(conn, tenant_id="globex", event_type="worker.updated", entity_type="worker",
                     entity_key="E1", detail={"email": "e1@globex.example"})
        conn.commit()
        versions = [r[0] for r in conn.execute(
            "SELECT hash_version FROM audit.events WHERE tenant_id = 'acme' ORDER BY event_id")]
        assert versions == [1, 1, 1, 2, 2, 2]
        assert verify_chain(conn).ok, "a chain with rows of both versions verifies"
    return fresh_warehouse_url


def _payloads(conn, tenant: str = "acme") -> str:
    return " ".join(str(r[0]) for r in conn.execute(
        "SELECT detail FROM audit.events WHERE tenant_id = %s ORDER BY event_id", (tenant,)))


def test_a_subject_is_tombstoned_everywhere_and_the_chain_still_verifies(mixed_chain):
    with connect(mixed_chain) as conn:
        assert len(subject_event_ids(conn, tenant_id="acme", values=["E1", "e1@example.com"])) == 4
        done = tombstone_subject(conn, tenant_id="acme", values=["E1", "e1@example.com"], reason="erasure",
                                 basis="GDPR Art. 17", reference="ER-1", entity_keys={"E1": "psn_E1"})
        conn.commit()
        assert done.tombstoned == 4 and len(done.redaction_event_ids) == 1
        text = _payloads(conn)
        assert "e1@example.com" not in text and "e1.new@example.com" not in text and "score" not in text
        assert "e2@example.com" in text, "another worker's payload stays"
        assert "e1@globex.example" in _payloads(conn, "globex"), "another tenant's chain is untouched"
        keys = [r[0] for r in conn.execute(
            "SELECT entity_key FROM audit.events WHERE tenant_id = 'acme' ORDER BY event_id")]
        assert keys[:6] == ["psn_E1", "E2", "psn_E1", "C-9", "C-10", "psn_E1"], "both row versions take the pseudonym"
        report = verify_chain(conn)
        assert report.ok, report.breaks
        assert report.tombstoned == 4
        tomb = conn.execute("SELECT detail FROM audit.events WHERE tenant_id = 'acme' AND entity_key = 'C-9'"
                            ).fetchone()[0]
        assert tomb == {"tombstone": {"reason": "erasure", "basis": "GDPR Art. 17",
                                      "redaction_event_id": done.redaction_event_ids[0]}}

        assert conn.execute("SELECT count(*) FROM audit.events WHERE entity_key = 'E1'").fetchone()[0] == 1
        assert "psn_E1" not in _payloads(conn)

        again = tombstone_subject(conn, tenant_id="acme", values=["E1", "e1@example.com"], reason="erasure",
                                  basis="GDPR Art. 17", reference="ER-1")
        conn.commit()
        assert again.tombstoned == 0 and again.redaction_event_ids == ()
        assert verify_chain(conn).ok


def test_tombstoned_chains_still_verify_against_their_checkpoints(mixed_chain, audit_cli):
    assert audit_cli("checkpoint", "--url", mixed_chain).returncode == 0
    with connect(mixed_chain) as conn:
        ids = [r[0] for r in conn.execute("SELECT event_id FROM audit.events WHERE tenant_id = 'acme'")]
        tombstone_events(conn, tenant_id="acme", event_ids=ids, reason="retention", basis="batch + 90 days",
                         reference="retention:run-1")
        conn.commit()

    result = audit_cli("verify", "--url", mixed_chain)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 8 events in 2 tenant chain(s) verified against 2 checkpoint(s)" in result.stdout
    assert "INFO: 6 event payload(s) are tombstones" in result.stdout


@pytest.fixture
def tombstoned(mixed_chain):
    """E1 tombstoned; returns the url and the acme event ids in chain order."""
    with connect(mixed_chain) as conn:
        tombstone_subject(conn, tenant_id="acme", values=["E1"], reason="erasure", basis="b", reference="ER-1")
        conn.commit()
        ids = [r[0] for r in conn.execute(
            "SELECT event_id FROM audit.events WHERE tenant_id = 'acme' ORDER BY event_id")]
    return mixed_chain, ids


def _superuser(url: str, sql: str, params: tuple = ()) -> None:
    with connect(url) as conn:
        conn.execute("ALTER TABLE audit.events DISABLE TRIGGER USER")
        conn.execute(sql, params or None)
        for name in ("events_append_only", "events_no_truncate"):
            conn.execute(f"ALTER TABLE audit.events ENABLE ALWAYS TRIGGER {name}")
        conn.commit()


def _first_break(url: str):
    with connect(url) as conn:
        report = verify_chain(conn, "acme")
    assert not report.ok
    return report.breaks[0]


def test_a_payload_removed_outside_redact_is_a_break(tombstoned):
    url, ids = tombstoned
    redaction = ids[-1]
    # E2's version-2 row, tombstoned by hand and pointed at the real redaction event.
    _superuser(url, "UPDATE audit.events SET detail = '{\"tombstone\": {}}', payload_salt = NULL,"
                    " tombstoned_by = %s WHERE event_id = %s", (redaction, ids[4]))
    found = _first_break(url)
    assert found.kind == "tombstone" and found.event_id == redaction


def test_a_version_1_row_silently_emptied_is_a_break(tombstoned):
    url, ids = tombstoned
    _superuser(url, "UPDATE audit.events SET detail = '{\"tombstone\": {}}', tombstoned_by = %s"
                    " WHERE event_id = %s", (ids[-1], ids[1]))
    assert _first_break(url).kind == "tombstone"


def test_a_tombstoned_version_1_rows_other_fields_stay_protected(tombstoned):
    url, ids = tombstoned
    _superuser(url, "UPDATE audit.events SET event_type = 'worker.created' WHERE event_id = %s", (ids[0],))
    assert _first_break(url).kind == "tombstone"


def test_untombstoning_or_editing_a_payload_is_a_break(tombstoned):
    url, ids = tombstoned
    _superuser(url, "UPDATE audit.events SET tombstoned_by = NULL WHERE event_id = %s", (ids[3],))
    assert _first_break(url).kind == "edited"


def test_an_edited_version_2_payload_is_a_break(mixed_chain):
    with connect(mixed_chain) as conn:
        target = conn.execute("SELECT event_id FROM audit.events WHERE entity_key = 'C-10'").fetchone()[0]
    _superuser(mixed_chain, "UPDATE audit.events SET detail = '{\"employee_id\": \"E3\"}' WHERE event_id = %s",
               (target,))
    found = _first_break(mixed_chain)
    assert (found.kind, found.event_id) == ("edited", target) and "was edited" in found.reason


@pytest.fixture
def runtime_url(mixed_chain):
    role = "runtime_" + uuid.uuid4().hex[:8]
    with connect(mixed_chain, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN IN ROLE credsync_runtime')
        try:
            yield psycopg.conninfo.make_conninfo(mixed_chain, user=role)
        finally:
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


def test_the_runtime_role_tombstones_only_through_redact(runtime_url):
    with connect(runtime_url) as conn:
        done = tombstone_subject(conn, tenant_id="acme", values=["E2"], reason="erasure", basis="b",
                                 reference="ER-2")
        conn.commit()
        assert done.tombstoned == 2 and verify_chain(conn).ok
        other = conn.execute("SELECT event_id FROM audit.events WHERE entity_key = 'C-9'").fetchone()[0]
        third = conn.execute("SELECT min(event_id) FROM audit.events WHERE tenant_id = 'acme'").fetchone()[0]
    refused = [
        ("UPDATE audit.events SET detail = '{\"tombstone\": {}}' WHERE event_id = %s", (other,)),
        # A made-up redaction event id, or a real one naming a different number of rows.
        ("SELECT audit.tombstone_events('acme', ARRAY[%s]::bigint[], 1, '{}')", (other,)),
        ("SELECT audit.tombstone_events('acme', ARRAY[%s]::bigint[], %s, '{}')", (other, done.redaction_event_ids[0])),
        # The right count, but the redaction event was used already.
        ("SELECT audit.tombstone_events('acme', ARRAY[%s, %s]::bigint[], %s, '{}')",
         (other, third, done.redaction_event_ids[0])),
        ("DELETE FROM audit.events WHERE event_id = %s", (other,)),
    ]
    for sql, params in refused:
        with connect(runtime_url) as conn, pytest.raises(psycopg.Error):
            conn.execute(sql, params)
    with connect(runtime_url) as conn:
        assert "E1" in _payloads(conn) and verify_chain(conn).ok


def test_a_tombstoned_rows_entity_key_stays_protected(tombstoned):
    url, ids = tombstoned
    # ids[3]: C-9, a version-2 row whose digest no longer covers its key once tombstoned.
    _superuser(url, "UPDATE audit.events SET entity_key = 'C-99' WHERE event_id = %s", (ids[3],))
    assert _first_break(url).kind == "tombstone"
