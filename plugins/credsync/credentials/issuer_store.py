"""The warehouse side of issuers: their keys and their status list entries (``core.issuer_keys``,
``core.status_lists``, ``core.credential_status``). Plain psycopg, no Airflow.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from credsync.credentials.did_web import PublishedKey
from credsync.credentials.keys import SigningKeyError
from credsync.credentials.status import LIST_SIZE, PURPOSES, status_entry

if TYPE_CHECKING:
    import psycopg

    from credsync.credentials.issuers import Issuer

_random = secrets.SystemRandom()


def register_key(cur: psycopg.Cursor, issuer: Issuer) -> None:
    """Record the connection's current key for ``issuer`` (once); refuse a retired one."""
    cur.execute(
        "INSERT INTO core.issuer_keys (tenant_id, issuer_did, key_id, public_jwk) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (issuer_did, key_id) DO NOTHING",
        (issuer.tenant_id, issuer.did, issuer.key.key_id, json.dumps(issuer.key.public_jwk())),
    )
    cur.execute("SELECT retired_at FROM core.issuer_keys WHERE issuer_did = %s AND key_id = %s",
                (issuer.did, issuer.key.key_id))
    (retired_at,) = cur.fetchone()
    if retired_at is not None:
        raise SigningKeyError(
            f"signing key {issuer.key.key_id} of {issuer.did} was retired on {retired_at.isoformat()}:"
            " put the new private JWK in the signing key connection (docs/runbook.md, key rotation)"
        )


def published_keys(cur: psycopg.Cursor, issuer_did: str) -> list[PublishedKey]:
    cur.execute("SELECT key_id, public_jwk, retired_at FROM core.issuer_keys WHERE issuer_did = %s"
                " ORDER BY added_at, key_id", (issuer_did,))
    return [PublishedKey(key_id, dict(jwk), retired) for key_id, jwk, retired in cur.fetchall()]


def retire_key(cur: psycopg.Cursor, issuer_did: str, key_id: str, on: datetime, reason: str) -> bool:
    """Set a key's retirement time (only earlier, never later or undone); True when it changed."""
    on = on.replace(microsecond=0)  # the DID document publishes it to the second
    cur.execute(
        "UPDATE core.issuer_keys SET retired_at = %s, retire_reason = %s"
        " WHERE issuer_did = %s AND key_id = %s AND (retired_at IS NULL OR retired_at > %s)",
        (on, reason, issuer_did, key_id, on),
    )
    return cur.rowcount == 1


def allocate(cur: psycopg.Cursor, issuer: Issuer, credential_ids: list[str],
             purpose: str = "revocation") -> dict[str, tuple[int, int]]:
    """A random, never reused index per credential (existing allocations are kept: idempotent)."""
    issuer_did, tenant_id = issuer.did, issuer.tenant_id
    cur.execute("SELECT credential_id::text, list_number, list_index FROM core.credential_status"
                " WHERE credential_id = ANY(%s::uuid[]) AND purpose = %s", (credential_ids, purpose))
    allocated = {cid: (number, index) for cid, number, index in cur.fetchall()}
    pending = [cid for cid in credential_ids if cid not in allocated]
    while pending:
        # Lock the issuer's lists for this purpose: two issuers' runs never draw the same index.
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('credsync.status:' || %s || ':' || %s))",
                    (issuer_did, purpose))
        cur.execute("SELECT coalesce(max(list_number), 1) FROM core.status_lists"
                    " WHERE issuer_did = %s AND purpose = %s", (issuer_did, purpose))
        (number,) = cur.fetchone()
        cur.execute("INSERT INTO core.status_lists (tenant_id, issuer_did, purpose, list_number, size)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (tenant_id, issuer_did, purpose, number, LIST_SIZE))
        cur.execute("SELECT size FROM core.status_lists WHERE issuer_did = %s AND purpose = %s AND list_number = %s",
                    (issuer_did, purpose, number))
        (size,) = cur.fetchone()
        cur.execute("SELECT list_index FROM core.credential_status WHERE issuer_did = %s AND purpose = %s"
                    " AND list_number = %s", (issuer_did, purpose, number))
        used = {row[0] for row in cur.fetchall()}
        free = size - len(used)
        if free == 0:
            cur.execute("INSERT INTO core.status_lists (tenant_id, issuer_did, purpose, list_number, size)"
                        " VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        (tenant_id, issuer_did, purpose, number + 1, LIST_SIZE))
            continue
        batch, pending = pending[:free], pending[free:]
        indexes = _draw(size, used, len(batch))
        rows = [(tenant_id, cid, issuer_did, purpose, number, index)
                for cid, index in zip(batch, indexes, strict=True)]
        with cur.copy("COPY core.credential_status (tenant_id, credential_id, issuer_did, purpose, list_number,"
                      " list_index) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        allocated.update({cid: (number, index) for _, cid, _, _, number, index in rows})
    return allocated


def status_entries(cur: psycopg.Cursor, issuer: Issuer, credential_ids: list[str],
                   purposes: tuple[str, ...] = PURPOSES) -> dict[str, list[dict[str, str]]]:
    """Each credential's ``credentialStatus`` entries, one per purpose (revocation, then suspension).

    An index is allocated once per credential and purpose (a rerun gets the same entries back), each
    in that purpose's own lists: a suspension can be lifted, a revocation never, and a verifier tells
    them apart by the list's ``statusPurpose``.
    """
    slots = {purpose: allocate(cur, issuer, credential_ids, purpose) for purpose in purposes}
    return {cid: [status_entry(issuer.base, purpose, *slots[purpose][cid]) for purpose in purposes]
            for cid in credential_ids}


def _draw(size: int, used: set[int], count: int) -> list[int]:
    if count > (size - len(used)) // 2:
        # Dense: sample from what is left rather than retrying collisions.
        return _random.sample([i for i in range(size) if i not in used], count)
    drawn: set[int] = set()
    while len(drawn) < count:
        index = _random.randrange(size)
        if index not in used:
            drawn.add(index)
    return list(drawn)


def set_bits(cur: psycopg.Cursor, issuer_did: str, purpose: str) -> dict[int, tuple[int, list[int]]]:
    """list_number -> (size, indexes whose bit is set) for every list of the issuer and purpose."""
    # Revocation is final: a revoked credential's bit is set and nothing clears it (the status never
    # leaves 'revoked': migration 0015's trigger). A suspension bit is set while the hold lasts.
    flags = {"revocation": "c.status = 'revoked'", "suspension": "c.suspended_at IS NOT NULL"}
    if purpose not in flags:
        raise ValueError(f"unknown status purpose {purpose!r}: expected one of {list(flags)}")
    flag = flags[purpose]
    cur.execute(
        f"SELECT l.list_number, l.size, coalesce(array_agg(s.list_index) FILTER (WHERE {flag}), '{{}}')"
        " FROM core.status_lists l"
        " LEFT JOIN core.credential_status s USING (issuer_did, purpose, list_number)"
        " LEFT JOIN core.credentials c ON c.credential_id = s.credential_id"
        " WHERE l.issuer_did = %s AND l.purpose = %s GROUP BY l.list_number, l.size ORDER BY l.list_number",
        (issuer_did, purpose),
    )
    return {number: (size, list(indexes)) for number, size, indexes in cur.fetchall()}
