"""What every marketplace flow shares: building the members from core, recording refusals, auditing tokens.

- :func:`build` reads core (include/sql/marketplace/*.sql), maps every worker
  (:mod:`credsync.marketplace.mapping`) and stores each pseudonym it sent in the vault
  (credsync.governance.pseudonymise: the mapping back is kept, encrypted, for the audited re-identification).
- :func:`quarantine` records what the mapping refused in audit.quarantine under one audit.batches
  row (source ``credsync``, stream ``marketplace_member``): record key, rule and reason; in = loaded +
  quarantined holds for the batch.
- :func:`audit_tokens` chains every token issued, refreshed, refused or revoked (fingerprint, scope, flow).
- :func:`dead_letter_refusal` parks what the marketplace refused in audit.dead_letters (source
  ``marketplace``) for dlq_replay and the product owners.

Plain Python (no Airflow); each function works in the caller's transaction unless it says otherwise.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from credsync.audit.chain import AuditEvent, append_events
from credsync.audit.dead_letters import dead_letter
from credsync.marketplace.mapping import MAPPING, Built, build_members
from credsync.marketplace.profile import MarketplaceProfile
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

    from credsync.hooks.marketplace import MarketplaceClient

DEAD_LETTER_SOURCE = "marketplace"
STREAM = "marketplace_member"
LOCK_CLASS = 0x6D6B7470  # "mktp": one marketplace flow per tenant at a time


def lock(conn: psycopg.Connection, tenant_id: str) -> None:
    """Session lock: two runs of one tenant's marketplace flows never interleave (released on close)."""
    conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (LOCK_CLASS, tenant_id))
    conn.commit()


def build(conn: psycopg.Connection, tenant_id: str, profile: MarketplaceProfile, *,
          pseudonym_key: bytes | None = None) -> Built:
    from psycopg.rows import dict_row

    from credsync.credentials.rules import load_rules
    from credsync.governance.pseudonymise import pseudonym, pseudonymise, tenant_key

    params = {"tenant_id": tenant_id}
    with conn.cursor(row_factory=dict_row) as cur:
        workers = cur.execute(sql_text("marketplace/workers.sql"), params).fetchall()
        completions = cur.execute(sql_text("marketplace/completions.sql"), params).fetchall()
        credentials = cur.execute(sql_text("marketplace/credentials.sql"), params).fetchall()
    key: list[bytes] = []  # fetched once, and only when someone is pseudonymised

    def key_now() -> bytes:
        if not key:
            key.append(pseudonym_key or tenant_key(tenant_id))
        return key[0]

    names = {rule.rule_id: rule.achievement_name for rule in load_rules()}
    built = build_members(tenant_id, profile, workers, completions, credentials,
                          pseudonymise=lambda kind, value: pseudonym(tenant_id, value, kind=kind, key=key_now()),
                          achievement_names=names)
    if built.pseudonymised:
        pseudonymise(conn, tenant_id, built.pseudonymised, request_id=f"marketplace:{tenant_id}",
                     basis="talent marketplace: contractors and alumni are shared under a pseudonym",
                     key=key_now())
    return built


def quarantine(conn: psycopg.Connection, tenant_id: str, built: Built, *, dag_run_id: str | None = None) -> str | None:
    """Record the refusals of ``built`` (a batch row per run with any); returns the batch id."""
    from psycopg.types.json import Jsonb

    from credsync.quality.quarantine import capped

    if not built.refused:
        return None
    known = {r[0] for r in conn.execute(
        "SELECT q.record_key || '|' || q.rule FROM audit.quarantine q JOIN audit.batches b USING (batch_id)"
        " WHERE b.tenant_id = %s AND b.stream = %s", (tenant_id, STREAM))}
    fresh = [r for r in built.refused if f"{r.record_key}|{r.rule}" not in known]
    if not fresh:
        return None  # quarantined by an earlier run, still unfixed: once is enough
    batch_id = str(uuid.uuid4())
    records = len(built.members) + sum(1 for r in built.refused if r.section == "member")
    conn.execute(
        "INSERT INTO audit.batches (batch_id, tenant_id, source, stream, status, records_in, records_loaded,"
        " records_quarantined, mapping_version, dag_run_id, finished_at)"
        " VALUES (%s, %s, 'credsync', %s, 'validated', %s, %s, %s, %s, %s, now())",
        (batch_id, tenant_id, STREAM, records, len(built.members), len(fresh), "_".join(MAPPING), dag_run_id))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO audit.quarantine (batch_id, tenant_id, record_key, rule, reason, record)"
            " VALUES (%s, %s, %s, %s, %s, %s)",
            [(batch_id, tenant_id, r.record_key, r.rule, r.reason[:2000], Jsonb(capped(r.record))) for r in fresh])
    return batch_id


def audit_tokens(conn: psycopg.Connection, tenant_id: str, flow: str, *clients: MarketplaceClient) -> int:
    events = [AuditEvent(f"marketplace.token_{e.kind}", "oauth_client", e.client_id,
                         {"flow": flow, "scope": e.scope, "fingerprint": e.fingerprint})
              for client in clients for e in client.auth.drain()]
    return append_events(conn, tenant_id=tenant_id, events=events)


def dead_letter_refusal(conn: psycopg.Connection, tenant_id: str, entity_key: str, reason: str,
                        detail: dict[str, Any], payload: dict[str, Any] | None) -> None:
    dead_letter(conn, tenant_id=tenant_id, source=DEAD_LETTER_SOURCE, entity_key=entity_key, reason=reason,
                detail=detail, payload=payload)


def refusal_reason(status: int, code: str | None) -> str:
    """``marketplace_<code>`` (``marketplace_validation_failed``), or the status when no code came back."""
    return f"marketplace_{code}" if code else f"marketplace_refused_{status}"
