"""Reversible pseudonymisation: a keyed, deterministic pseudonym per tenant, and its mapping held apart.

- ``pseudonym(tenant, value, kind)`` is ``psn_`` + base32 of HMAC-SHA256 under the tenant's key: the
  same worker gets the same pseudonym in every table and every run, so joins on employee_id still work
  after the originals are gone, and nobody without the key can compute (or test a guess against) one.
- The way back is ``vault.pseudonyms``: each original encrypted with AES-GCM under the same tenant key
  (associated data: tenant, pseudonym, kind), in a schema the pipeline's role may only insert into.
- ``reidentify`` is the only reader: a named approver the tenant's config lists and a reason, both on
  the audit chain (the event names the pseudonym, never the original), and a refusal is audited too.

The key: Airflow Connection ``credsync_pseudonym_key``, password = a master secret of at least 32
characters; each tenant's key is derived from it (HKDF-SHA256, info names the tenant), so one tenant's
pseudonyms say nothing about another's. The key is never logged, put in XCom or stored.

Plain Python (no Airflow import at module level); every function works in the caller's transaction.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from credsync.audit.chain import append_event

if TYPE_CHECKING:
    import psycopg

KEY_CONN_ID = "credsync_pseudonym_key"
KINDS = ("employee_id", "email", "name", "national_id", "user_name")
PREFIX = "psn_"
PSEUDONYM = re.compile(r"^psn_[a-z2-7]{20}$")
_MIN_SECRET = 32
_NONCE = 12
KEY_VERSION = 1


class PseudonymKeyError(RuntimeError):
    """The pseudonym key Connection is missing or too weak; the message names the Connection, not the key."""


class ReidentificationRefused(PermissionError):
    """A re-identification that is not authorised (unknown approver, no reason, unknown pseudonym)."""


def master_secret(conn_id: str = KEY_CONN_ID) -> bytes:
    """The master secret: the password of Connection ``conn_id`` (env ``AIRFLOW_CONN_...`` works too)."""
    from airflow.sdk import Connection

    try:
        conn = Connection.get(conn_id)
    except Exception as exc:  # AirflowNotFoundException, a secrets backend failing
        raise PseudonymKeyError(f"connection {conn_id!r} (the pseudonym key) is not available: "
                                f"{type(exc).__name__}") from None
    secret = (conn.password or "").encode()
    if len(secret) < _MIN_SECRET:
        raise PseudonymKeyError(f"connection {conn_id!r} must hold a secret of at least {_MIN_SECRET} characters "
                                "in its password (e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))')")
    return secret


def tenant_key(tenant_id: str, *, secret: bytes | None = None) -> bytes:
    """The tenant's 32-byte key, HKDF-SHA256 of the master secret (``secret`` for tests, else the Connection)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"credsync pseudonym v{KEY_VERSION} {tenant_id}".encode()).derive(secret or master_secret())


def pseudonym(tenant_id: str, value: str, *, kind: str = "employee_id", key: bytes | None = None) -> str:
    """The deterministic pseudonym of ``value`` (of ``kind``) at ``tenant_id``."""
    if kind not in KINDS:
        raise ValueError(f"pseudonym kind {kind!r} is not one of {', '.join(KINDS)}")
    key = key or tenant_key(tenant_id)
    digest = hmac.new(key, f"{kind}\0{value}".encode(), hashlib.sha256).digest()
    return PREFIX + base64.b32encode(digest).decode().lower()[:20]


def is_pseudonym(value: str | None) -> bool:
    return bool(value) and bool(PSEUDONYM.match(value))


def anonymous_token() -> str:
    """A random stand-in for a value erased without a legal basis to keep it: no key, no mapping, no way back."""
    return "erased_" + base64.b32encode(os.urandom(10)).decode().lower()


def _aad(tenant_id: str, value_pseudonym: str, kind: str) -> bytes:
    return f"{tenant_id}\0{value_pseudonym}\0{kind}".encode()


def encrypt(key: bytes, tenant_id: str, value_pseudonym: str, kind: str, original: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(_NONCE)
    return nonce + AESGCM(key).encrypt(nonce, original.encode(), _aad(tenant_id, value_pseudonym, kind))


def decrypt(key: bytes, tenant_id: str, value_pseudonym: str, kind: str, blob: bytes) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    blob = bytes(blob)
    return AESGCM(key).decrypt(blob[:_NONCE], blob[_NONCE:], _aad(tenant_id, value_pseudonym, kind)).decode()


def pseudonymise(conn: psycopg.Connection, tenant_id: str, values: Mapping[str, str] | Iterable[tuple[str, str]], *,
                 request_id: str, basis: str, key: bytes | None = None) -> dict[str, str]:
    """Pseudonyms for ``values`` ((kind, original) pairs), each mapping stored encrypted in vault.pseudonyms.

    Returns {original: pseudonym}. Idempotent: a mapping already held is left as it is.
    """
    key = key or tenant_key(tenant_id)
    pairs = list(values.items()) if isinstance(values, Mapping) else list(values)
    result: dict[str, str] = {}
    rows = []
    for kind, original in pairs:
        if not original or original in result:
            continue
        value_pseudonym = pseudonym(tenant_id, original, kind=kind, key=key)
        result[original] = value_pseudonym
        rows.append((tenant_id, value_pseudonym, kind, encrypt(key, tenant_id, value_pseudonym, kind, original),
                     KEY_VERSION, request_id, basis))
    if rows:
        # No conflict target: naming one needs SELECT on its columns, which the runtime role lacks on
        # purpose (the primary key is the only constraint, so the effect is the same).
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO vault.pseudonyms (tenant_id, pseudonym, kind, original, key_version, request_id, basis)"
                " VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING", rows)
    return result


@dataclass(frozen=True)
class Reidentified:
    tenant_id: str
    pseudonym: str
    kind: str
    original: str
    approver: str
    basis: str


def reidentify(conn: psycopg.Connection, tenant_id: str, value_pseudonym: str, *, approver: str, reason: str,
               approvers: Iterable[str] | None = None, key: bytes | None = None) -> Reidentified:
    """The original behind ``value_pseudonym``: the audited, authorised step, and the only one.

    ``approvers`` defaults to the tenant's ``erasure.reidentify_approvers`` (include/tenants.yaml). A
    refusal is recorded (audit event and vault.reidentifications) and committed by the caller like a
    success; it raises :class:`ReidentificationRefused` after recording.
    """
    approver = (approver or "").strip()
    reason = (reason or "").strip()
    if approvers is None:
        from credsync.tenants import load_tenants

        tenant = next((t for t in load_tenants(enabled_only=False) if t.tenant_id == tenant_id), None)
        approvers = tenant.erasure.get("reidentify_approvers", ()) if tenant else ()
    allowed = {a.strip().lower() for a in approvers}
    problem = None
    if not approver:
        problem = "a named approver is required"
    elif approver.lower() not in allowed:
        problem = f"{approver!r} is not a re-identification approver of tenant {tenant_id}"
    elif len(reason) < 10:
        problem = "a reason is required (the request, ticket or legal ground; at least 10 characters)"
    row = None
    if problem is None:
        row = conn.execute("SELECT kind, original, basis FROM vault.pseudonyms WHERE tenant_id = %s AND pseudonym = %s",
                           (tenant_id, value_pseudonym)).fetchone()
        if row is None:
            problem = f"no pseudonym {value_pseudonym!r} is held for tenant {tenant_id} (erased values have none)"
    outcome = "refused" if problem else "revealed"
    conn.execute("INSERT INTO vault.reidentifications (tenant_id, pseudonym, approver, reason, outcome)"
                 " VALUES (%s, %s, %s, %s, %s)", (tenant_id, value_pseudonym, approver or "(none)",
                                                  reason or "(none)", outcome))
    append_event(conn, tenant_id=tenant_id,
                 event_type="pseudonym_reidentification_refused" if problem else "pseudonym_reidentified",
                 entity_type="pseudonym", entity_key=value_pseudonym,
                 detail={"approver": approver or None, "reason": reason or None,
                         **({"refused": problem} if problem else {"kind": row[0]})})
    if problem:
        raise ReidentificationRefused(problem)
    kind, blob, basis = row
    original = decrypt(key or tenant_key(tenant_id), tenant_id, value_pseudonym, kind, blob)
    return Reidentified(tenant_id, value_pseudonym, kind, original, approver, basis)
