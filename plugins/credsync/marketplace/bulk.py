"""The initial bulk sync: export file with checksum, GX gate, import, what the marketplace accepted.

1. **Build** every member (credsync.marketplace.ledger.build); refusals are quarantined.
2. **Export** one NDJSON line per member (canonical JSON, sorted by member id) to the object store
   (``marketplace/<tenant>/initial-<sync id>.ndjson`` below ``CREDSYNC_MARKETPLACE_STORE`` or
   ``$CREDSYNC_OBJECT_STORE``) with its sha256 next to it (``.sha256``, sha256sum's format).
3. **Gate** the export with GX (suite ``marketplace_export``): a refused file is never sent.
4. **Import**: POST the bytes with ``X-Checksum-SHA256`` under an idempotency key derived from the
   tenant and the checksum, so a retry, a lost answer or a rerun of the same file makes one import.
   A rerun after a crash finds the open sync row and sends the file it recorded, read back from the
   store and checked against its checksum.
5. **Record** the import's verdict: accepted members and their items (the items as acknowledged
   ``bulk`` rows of the event ledger, so events never send them again); each rejected line is
   dead-lettered with the marketplace's code (source ``marketplace``).

A tenant has one completed initial sync; after it, this step does nothing.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from credsync.audit.chain import append_event
from credsync.marketplace import ledger
from credsync.marketplace.mapping import canonical_json, content_hash, to_json
from credsync.marketplace.profile import MarketplaceProfile

if TYPE_CHECKING:
    import psycopg

    from credsync.hooks.marketplace import MarketplaceClient

STORE_FOLDER = "marketplace"
STORE_ENV = "CREDSYNC_MARKETPLACE_STORE"


class ExportGateFailed(RuntimeError):
    """The GX gate refused the export file: nothing was sent (the verdict names rules and members)."""


class ImportIncomplete(RuntimeError):
    """The marketplace has not finished (or was unreachable); the rerun resumes the same sync."""


@dataclass
class SyncResult:
    tenant_id: str
    status: str = "skipped"
    sync_id: str | None = None
    members: int = 0
    quarantined: int = 0
    accepted: int = 0
    rejected: int = 0
    checksum_sha256: str | None = None
    export_url: str | None = None

    def as_counts(self) -> dict[str, Any]:
        return asdict(self)


def export_bytes(members: list[dict[str, Any]]) -> bytes:
    return b"".join(canonical_json(m).encode() + b"\n" for m in sorted(members, key=lambda m: m["member_id"]))


def initial_sync(warehouse_url: str, tenant_id: str, profile: MarketplaceProfile, client: MarketplaceClient, *,
                 store: Any = None, pseudonym_key: bytes | None = None, gate: bool = True,
                 poll_seconds: float = 1.0, max_polls: int = 60,
                 sleep: Callable[[float], None] = time.sleep) -> SyncResult:
    from credsync.warehouse import connect

    result = SyncResult(tenant_id)
    with connect(warehouse_url) as conn:
        ledger.lock(conn, tenant_id)
        if conn.execute("SELECT 1 FROM core.marketplace_syncs WHERE tenant_id = %s AND status = 'completed'",
                        (tenant_id,)).fetchone():
            conn.commit()
            return result
        built = ledger.build(conn, tenant_id, profile, pseudonym_key=pseudonym_key)
        ledger.quarantine(conn, tenant_id, built)
        result.quarantined = len(built.refused)
        conn.commit()
        members = [to_json(m) for m in built.members]
        open_row = conn.execute(
            "SELECT sync_id, export_url, checksum_sha256, idempotency_key, import_id FROM core.marketplace_syncs"
            " WHERE tenant_id = %s AND status IN ('exported', 'gated', 'sent') ORDER BY created_at DESC LIMIT 1",
            (tenant_id,)).fetchone()
        if open_row:
            sync_id, url, checksum, key, import_id = open_row
            data = _read_export(url, checksum)
            members = [_json(line) for line in data.splitlines() if line.strip()]
        else:
            sync_id, import_id = str(uuid.uuid4()), None
            data = export_bytes(members)
            checksum = hashlib.sha256(data).hexdigest()
            url = _write_export(store, tenant_id, str(sync_id), data, checksum)
            key = f"bulk-{tenant_id}-{checksum[:40]}"
            conn.execute("INSERT INTO core.marketplace_syncs (tenant_id, sync_id, export_url, checksum_sha256, members,"
                         " bytes, idempotency_key) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                         (tenant_id, sync_id, url, checksum, len(members), len(data), key))
            conn.commit()
        result.sync_id, result.members, result.checksum_sha256, result.export_url = (
            str(sync_id), len(members), checksum, url)
        if not members:
            # Nobody to send yet: the sync is complete, and members who come later go by PUT (events).
            _record(conn, tenant_id, str(sync_id), {}, [], {"status": "completed", "accepted": 0, "rejected": 0},
                    result)
            conn.commit()
            return result
        if gate:
            _gate(conn, warehouse_url, tenant_id, str(sync_id), members)
        if import_id is None:
            outcome = client.bulk_import(data, checksum, key)
            if not outcome.accepted or not isinstance(outcome.body, dict) or not outcome.body.get("import_id"):
                _set(conn, tenant_id, sync_id, "failed", errors={"status": outcome.status, "answer": outcome.body})
                ledger.dead_letter_refusal(conn, tenant_id, f"bulk:{sync_id}",
                                           ledger.refusal_reason(outcome.status, outcome.code),
                                           {"status": outcome.status, "answer": outcome.body},
                                           {"export_url": url, "checksum_sha256": checksum})
                ledger.audit_tokens(conn, tenant_id, "bulk", client)
                conn.commit()
                result.status = "failed"
                return result
            import_id = str(outcome.body["import_id"])
            conn.execute("UPDATE core.marketplace_syncs SET import_id = %s, status = 'sent' WHERE tenant_id = %s"
                         " AND sync_id = %s", (import_id, tenant_id, sync_id))
            conn.commit()
        verdict = _wait(client, import_id, poll_seconds, max_polls, sleep)
        ledger.audit_tokens(conn, tenant_id, "bulk", client)
        conn.commit()
        if verdict is None:
            raise ImportIncomplete(f"tenant {tenant_id}: bulk import {import_id} still processing; the rerun "
                                   "resumes it (docs/runbook.md, Talent marketplace sync)")
        _record(conn, tenant_id, str(sync_id), built.employee_of, members, verdict, result)
        conn.commit()
    return result


def _json(line: bytes) -> dict[str, Any]:
    import json

    return json.loads(line)


def _write_export(store: Any, tenant_id: str, sync_id: str, data: bytes, checksum: str) -> str:
    from credsync.objects import store_path, write_atomically

    folder = store_path(STORE_FOLDER, STORE_ENV, store) / tenant_id
    path = folder / f"initial-{sync_id}.ndjson"
    write_atomically(path, data)
    write_atomically(folder / f"initial-{sync_id}.ndjson.sha256", f"{checksum}  {path.name}\n".encode())
    return str(path)


def _read_export(url: str, checksum: str) -> bytes:
    from credsync.objects import as_store_path

    data = as_store_path(url).read_bytes()
    if hashlib.sha256(data).hexdigest() != checksum:
        raise ImportIncomplete(f"export {url} no longer matches its recorded sha256 {checksum}: it was changed "
                               "after the export; mark the sync failed to export again (docs/runbook.md)")
    return data


def _gate(conn: psycopg.Connection, warehouse_url: str, tenant_id: str, sync_id: str,
          members: list[dict[str, Any]]) -> None:
    from credsync.marketplace.quality import KEY_COLUMNS, SUITE_NAME, TABLE, export_expectations, stage
    from credsync.quality.gate import run_gate

    batch_id = stage(conn, tenant_id, members)
    conn.commit()
    verdict = run_gate(warehouse_url, suite_name=SUITE_NAME, table=TABLE, batch_id=batch_id, tenant_id=tenant_id,
                       expectations=export_expectations, key_columns=KEY_COLUMNS)
    if not verdict.success:
        _set(conn, tenant_id, sync_id, "refused", errors={"gate": verdict.summary})
        conn.commit()
        raise ExportGateFailed(f"tenant {tenant_id}: the marketplace export failed its gate, nothing was sent: "
                               f"{verdict.summary}")
    conn.execute("UPDATE core.marketplace_syncs SET status = 'gated' WHERE tenant_id = %s AND sync_id = %s"
                 " AND status = 'exported'", (tenant_id, sync_id))
    conn.commit()


def _wait(client: MarketplaceClient, import_id: str, poll_seconds: float, max_polls: int,
          sleep: Callable[[float], None]) -> dict[str, Any] | None:
    for poll in range(max_polls):
        state = client.get_import(import_id)
        if state.get("status") in ("completed", "failed"):
            return state
        sleep(min(poll_seconds * (poll + 1), 10.0))
    return None


def _set(conn: psycopg.Connection, tenant_id: str, sync_id: Any, status: str, **fields: Any) -> None:
    conn.execute("UPDATE core.marketplace_syncs SET status = %s, errors = %s,"
                 " completed_at = CASE WHEN %s IN ('completed', 'failed') THEN now() END"
                 " WHERE tenant_id = %s AND sync_id = %s",
                 (status, Jsonb(fields.get("errors")), status, tenant_id, sync_id))


def _record(conn: psycopg.Connection, tenant_id: str, sync_id: str, employee_of: dict[str, str],
            members: list[dict[str, Any]], verdict: dict[str, Any], result: SyncResult) -> None:
    from credsync.marketplace.events import item_events

    errors = [e for e in verdict.get("errors") or [] if isinstance(e, dict)]
    rejected = {str(e.get("member_id")) for e in errors}
    by_line = {i: m for i, m in enumerate(members, start=1)}
    for error in errors:
        member = by_line.get(int(error.get("line") or 0)) or {}
        member_id = str(error.get("member_id") or member.get("member_id"))
        ledger.dead_letter_refusal(conn, tenant_id, f"member:{member_id}",
                                   ledger.refusal_reason(422, error.get("code")),
                                   {"line": error.get("line"), "code": error.get("code"), "detail": error.get("detail"),
                                    "sync_id": sync_id}, {"member": member} if member else None)
    accepted = [m for m in members if m["member_id"] not in rejected]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO core.marketplace_members (tenant_id, member_id, employee_id, content_hash, record, via,"
            " sync_id) VALUES (%s, %s, %s, %s, %s, 'bulk', %s) ON CONFLICT (tenant_id, member_id) DO UPDATE"
            " SET content_hash = EXCLUDED.content_hash, record = EXCLUDED.record, via = 'bulk',"
            " sync_id = EXCLUDED.sync_id, updated_at = now()",
            [(tenant_id, m["member_id"], employee_of.get(m["member_id"], m["member_id"]),
              content_hash(m), Jsonb(m), sync_id) for m in accepted])
        cur.executemany(
            "INSERT INTO core.marketplace_events (tenant_id, event_id, event_type, member_id, item_key, body, state,"
            " outcome, acknowledged_at) VALUES (%s, %s, %s, %s, %s, %s, 'acknowledged', 'bulk', now())"
            " ON CONFLICT DO NOTHING",
            [(tenant_id, e["event_id"], e["type"], e["member_id"], key, Jsonb(e))
             for m in accepted for key, e in item_events(tenant_id, m)])
    status = "completed" if verdict.get("status") == "completed" else "failed"
    conn.execute("UPDATE core.marketplace_syncs SET status = %s, accepted = %s, rejected = %s, errors = %s,"
                 " completed_at = now() WHERE tenant_id = %s AND sync_id = %s",
                 (status, verdict.get("accepted"), verdict.get("rejected"), Jsonb(errors[:200]), tenant_id, sync_id))
    append_event(conn, tenant_id=tenant_id, event_type=f"marketplace.initial_sync_{status}", entity_type="sync",
                 entity_key=sync_id, detail={"accepted": len(accepted), "rejected": len(rejected)})
    result.status, result.accepted, result.rejected = status, len(accepted), len(rejected)
