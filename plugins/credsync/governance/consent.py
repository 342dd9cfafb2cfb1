"""The consent ledger: grants and withdrawals per worker and purpose, append-only, each on the audit chain.

A tenant names the flows that need consent in include/tenants.yaml (``consent: {registry_push:
registry_sharing}``: the registry push needs purpose ``registry_sharing``). For such a tenant:

- only credentials of workers whose latest event for the purpose is a grant are enqueued;
- an issue not yet sent when consent is withdrawn (or was never given) is withheld: its pending
  submission is removed before the push, with an audit event;
- a withdrawal revokes what the registry already holds (reason ``consent withdrawn``) through the
  normal revoke path; the credential itself stays valid (the worker still holds it, offline
  verifiable). A later grant shares credentials issued after it; the withdrawn copies stay revoked.
"""

from __future__ import annotations

import psycopg

from credsync.audit.chain import append_event

ACTIONS = ("grant", "withdraw")


def record(conn: psycopg.Connection, *, tenant_id: str, employee_id: str, purpose: str, action: str, source: str,
           reason: str | None = None) -> int:
    """Append one grant or withdrawal (and its audit event) in the caller's transaction; returns its id."""
    if action not in ACTIONS:
        raise ValueError(f"consent action {action!r} is not one of {', '.join(ACTIONS)}")
    if action == "withdraw" and not (reason or "").strip():
        raise ValueError("a withdrawal needs a reason (what the worker asked, the ticket)")
    event_id = conn.execute(
        "INSERT INTO core.consent_events (tenant_id, employee_id, purpose, action, source, reason)"
        " VALUES (%s, %s, %s, %s, %s, %s) RETURNING event_id",
        (tenant_id, employee_id, purpose, action, source, reason)).fetchone()[0]
    append_event(conn, tenant_id=tenant_id, event_type=f"consent_{action}", entity_type="worker",
                 entity_key=employee_id, detail={"purpose": purpose, "source": source, "reason": reason,
                                                 "consent_event_id": event_id})
    return event_id


def consent_purpose(tenant_id: str, flow: str) -> str | None:
    """The purpose ``flow`` needs consent for at ``tenant_id``; None when it needs none."""
    from credsync.tenants import load_tenants

    tenant = next((t for t in load_tenants(enabled_only=False) if t.tenant_id == tenant_id), None)
    return tenant.consent.get(flow) if tenant else None
