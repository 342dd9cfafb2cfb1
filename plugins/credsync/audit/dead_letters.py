"""audit.dead_letters: records that need a human, kept whole so they can be replayed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from credsync.audit.chain import append_event

if TYPE_CHECKING:
    import psycopg


def dead_letter(conn: psycopg.Connection, *, tenant_id: str, source: str, entity_key: str, reason: str,
                detail: Mapping[str, Any] | None, payload: Mapping[str, Any] | None) -> None:
    """Park a record in audit.dead_letters (upsert on tenant, source, entity_key, reason).

    Seen again, the letter is re-opened with the latest detail and payload and
    its attempt count goes up; the event is chained into the audit log. Runs
    in the caller's transaction.
    """
    from psycopg.types.json import Jsonb

    def as_json(value: Mapping[str, Any] | None) -> Jsonb | None:
        import json

        return None if value is None else Jsonb(json.loads(json.dumps(dict(value), default=str)))

    conn.execute(
        """
        INSERT INTO audit.dead_letters (tenant_id, source, entity_key, reason, detail, payload, attempts)
        VALUES (%s, %s, %s, %s, %s, %s, 1)
        ON CONFLICT (tenant_id, source, entity_key, reason) DO UPDATE
            SET detail = EXCLUDED.detail, payload = EXCLUDED.payload, status = 'open',
                attempts = audit.dead_letters.attempts + 1, updated_at = now()
        """,
        (tenant_id, source, entity_key, reason, as_json(detail), as_json(payload)),
    )
    append_event(conn, tenant_id=tenant_id, event_type="dead_letter.recorded", entity_type=source,
                 entity_key=entity_key, detail={"reason": reason})
