"""Rewrites a hash chain alone cannot catch, caught by `python -m credsync.audit verify` with checkpoints.

Each attack is done the way a superuser (or the table's owner) could do it on the real warehouse;
verification runs through the real CLI in a subprocess, checkpoints in a file:// object store.
"""

from __future__ import annotations

import psycopg
import pytest

from credsync.audit import verify_chain
from credsync.audit.chain import payload_digest, row_hash_v2
from credsync.audit.checkpoints import new_signing_jwk
from credsync.warehouse import connect

from .conftest import append


def _verify(audit_cli, url: str, *extra: str):
    return audit_cli("verify", "--url", url, *extra)


def _ids(url: str, tenant: str = "acme") -> list[int]:
    with connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT event_id FROM audit.events WHERE tenant_id = %s ORDER BY event_id", (tenant,))]


def _triggers_back_on(conn: psycopg.Connection) -> None:
    for name in ("events_append_only", "events_no_truncate"):
        conn.execute(f"ALTER TABLE audit.events ENABLE ALWAYS TRIGGER {name}")


def _as_attacker(url: str, *statements: str, params: tuple = ()) -> None:
    """Superuser edits: switch the append-only triggers off, run the statements, switch them back on."""
    with connect(url) as conn:
        conn.execute("ALTER TABLE audit.events DISABLE TRIGGER USER")
        for sql in statements:
            conn.execute(sql, params or None)
        _triggers_back_on(conn)
        conn.commit()


def _edit_and_rechain(url: str, event_id: int) -> None:
    """Edit one event and recompute every hash from it to the head: the chain is consistent again."""
    with connect(url) as conn:
        conn.execute("ALTER TABLE audit.events DISABLE TRIGGER USER")
        conn.execute("UPDATE audit.events SET detail = '{\"n\": 999}' WHERE event_id = %s", (event_id,))
        rows = conn.execute(
            "SELECT event_id, tenant_id, event_type, entity_type, entity_key, detail, occurred_at, prev_hash,"
            " payload_salt FROM audit.events WHERE tenant_id = 'acme' AND event_id >= %s ORDER BY event_id",
            (event_id,),
        ).fetchall()
        prev = rows[0][7]
        for eid, tenant, event_type, entity_type, entity_key, detail, occurred_at, _, salt in rows:
            # The attacker knows the format: each row's payload digest, then the row hash over it.
            payload = payload_digest(entity_key, detail, salt)
            digest = row_hash_v2(prev, tenant_id=tenant, event_type=event_type, entity_type=entity_type,
                                 payload_sha256=payload, occurred_at=occurred_at)
            conn.execute("UPDATE audit.events SET prev_hash = %s, row_hash = %s, payload_digest = %s"
                         " WHERE event_id = %s", (prev, digest, payload, eid))
            prev = digest
        _triggers_back_on(conn)
        conn.commit()


@pytest.fixture
def checkpointed(fresh_warehouse_url, audit_cli):
    """acme: 10 events, checkpointed by the CLI; globex: 3 events, checkpointed."""
    append(fresh_warehouse_url, "acme", 10)
    append(fresh_warehouse_url, "globex", 3)
    result = audit_cli("checkpoint", "--url", fresh_warehouse_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tenant acme: checkpoint at 10 events" in result.stdout
    return fresh_warehouse_url


def test_an_untouched_chain_verifies_against_its_checkpoints(checkpointed, audit_cli, checkpoint_store):
    append(checkpointed, "acme", 2, start=10)

    result = _verify(audit_cli, checkpointed)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 15 events in 2 tenant chain(s) verified against 2 checkpoint(s)" in result.stdout
    assert "tenant acme: 2 event(s) after the last checkpoint" in result.stdout
    # A rerun that appended nothing writes nothing; the next one covers the new events.
    assert "no new events" in audit_cli("checkpoint", "--url", checkpointed, "--tenant", "globex").stdout
    audit_cli("checkpoint", "--url", checkpointed)
    assert sorted(p.name for p in (checkpoint_store / "acme").iterdir()) == [
        f"{10:016d}.jws", f"{12:016d}.jws"]


def test_edit_then_rechain_is_caught(checkpointed, audit_cli):
    ids = _ids(checkpointed)
    _edit_and_rechain(checkpointed, ids[4])
    with connect(checkpointed) as conn:
        assert verify_chain(conn, "acme").ok, "the rewrite should fool the chain on its own"

    result = _verify(audit_cli, checkpointed)

    assert result.returncode == 1
    assert f"BROKEN: tenant acme: rechained: event_id={ids[9]}: rechained after edit" in result.stdout
    assert "globex" not in result.stdout.replace("globex chain", "")


def test_a_deleted_tail_is_caught(checkpointed, audit_cli):
    ids = _ids(checkpointed)
    _as_attacker(checkpointed, "DELETE FROM audit.events WHERE event_id > %s", params=(ids[6],))

    result = _verify(audit_cli, checkpointed, "--tenant", "acme")

    assert result.returncode == 1
    assert (f"BROKEN: tenant acme: tail cut: event_id={ids[6]}: tail cut: the chain ends after 7 events"
            f" at event_id={ids[6]}") in result.stdout
    assert "recorded 10 ending at event_id=" + str(ids[9]) in result.stdout


def test_a_cut_tail_hidden_by_new_appends_is_caught(checkpointed, audit_cli):
    ids = _ids(checkpointed)
    _as_attacker(checkpointed, "DELETE FROM audit.events WHERE event_id > %s", params=(ids[6],))
    append(checkpointed, "acme", 5, start=100)  # the pipeline carries on; the chain is longer than before

    result = _verify(audit_cli, checkpointed)

    assert result.returncode == 1
    assert "BROKEN: tenant acme: rechained:" in result.stdout


def test_truncate_is_refused_and_a_forced_truncate_is_caught(checkpointed, audit_cli):
    with connect(checkpointed) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege, match="TRUNCATE"):
        conn.execute("TRUNCATE audit.events")
    _as_attacker(checkpointed, "TRUNCATE audit.events")

    result = _verify(audit_cli, checkpointed)

    assert result.returncode == 1
    assert "BROKEN: tenant acme: truncated: truncated: the tenant has no events" in result.stdout
    assert "BROKEN: tenant globex: truncated:" in result.stdout


def test_a_checkpoint_rewritten_by_someone_without_the_key_is_caught(checkpointed, audit_cli, checkpoint_store):
    from credsync.audit.checkpoints import Checkpoint, sign_checkpoint

    ids = _ids(checkpointed)
    _edit_and_rechain(checkpointed, ids[4])
    with connect(checkpointed) as conn:
        head = conn.execute("SELECT row_hash FROM audit.events WHERE event_id = %s", (ids[9],)).fetchone()[0]
    # The attacker also replaces the checkpoint, signing with a key of their own.
    (checkpoint_store / "acme" / f"{10:016d}.jws").write_text(
        sign_checkpoint(Checkpoint("acme", 10, ids[9], head, "2026-03-02T12:00:00+00:00"), new_signing_jwk()))

    result = _verify(audit_cli, checkpointed)

    assert result.returncode == 1
    assert f"BROKEN: tenant acme: checkpoint forged: checkpoint forged: {10:016d}.jws" in result.stdout


def test_verify_without_a_store_says_what_it_cannot_see(checkpointed, audit_cli):
    result = audit_cli("verify", "--url", checkpointed, CREDSYNC_OBJECT_STORE="")

    assert result.returncode == 0
    assert "WARNING: no checkpoint store configured" in result.stdout and "NOT detectable" in result.stdout


def test_verify_refuses_a_store_without_a_public_key(checkpointed, audit_cli):
    result = audit_cli("verify", "--url", checkpointed, CREDSYNC_AUDIT_CHECKPOINT_PUBLIC_KEY="")

    assert result.returncode == 2 and "no public key" in result.stdout


def test_the_task_helper_checkpoints_after_appends(fresh_warehouse_url, checkpoint_key, checkpoint_store,
                                                   audit_cli, monkeypatch):
    from credsync.audit.store import checkpoint_tenant

    monkeypatch.setenv("CREDSYNC_OBJECT_STORE", f"file://{checkpoint_store.parent}")
    monkeypatch.setenv("CREDSYNC_AUDIT_CHECKPOINT_KEY", checkpoint_key)
    append(fresh_warehouse_url, "acme", 4)

    written = checkpoint_tenant(fresh_warehouse_url, "acme")
    again = checkpoint_tenant(fresh_warehouse_url, "acme")

    assert written is not None and written.seq == 4 and again is None
    assert (checkpoint_store / "acme" / f"{4:016d}.jws").exists()
    assert _verify(audit_cli, fresh_warehouse_url).returncode == 0
