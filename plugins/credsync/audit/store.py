"""Where checkpoints live and which key signs them (the Airflow-facing half of checkpoints.py).

Store: ``CREDSYNC_AUDIT_CHECKPOINT_STORE`` if set, else ``$CREDSYNC_OBJECT_STORE/audit-checkpoints``;
any ``ObjectStoragePath`` URL (``file:///…``, ``s3://conn_id@bucket/prefix``…). Production points
it at a bucket the warehouse cannot write and the pipeline cannot delete from (object lock /
write-once), or a deleted checkpoint silently weakens verification.

Key: the Airflow connection ``credsync_audit_checkpoint_key`` (password = private Ed25519 JWK),
separate from the credential signing key and never stored in the warehouse; outside Airflow the
environment variable ``CREDSYNC_AUDIT_CHECKPOINT_KEY`` holds the same JSON. Verification needs
only the public JWK (``CREDSYNC_AUDIT_CHECKPOINT_PUBLIC_KEY`` or ``--public-key``).
"""

from __future__ import annotations

import logging
import os

from credsync.audit.checkpoints import Checkpoint, CheckpointKeyError, StorePath, write_checkpoint
from credsync.objects import OBJECT_STORE_ENV, open_path, store_url

CHECKPOINT_KEY_CONN_ID = "credsync_audit_checkpoint_key"
KEY_ENV = "CREDSYNC_AUDIT_CHECKPOINT_KEY"
PUBLIC_KEY_ENV = "CREDSYNC_AUDIT_CHECKPOINT_PUBLIC_KEY"
STORE_ENV = "CREDSYNC_AUDIT_CHECKPOINT_STORE"

log = logging.getLogger(__name__)


def store_url_from_env() -> str | None:
    """The checkpoint store URL the environment configures, or None."""
    return store_url("audit-checkpoints", STORE_ENV)


def open_store(url: str) -> StorePath:
    """``url`` as an ``ObjectStoragePath``."""
    return open_path(url)


def private_key_text(conn_id: str = CHECKPOINT_KEY_CONN_ID) -> str:
    """The private JWK: ``CREDSYNC_AUDIT_CHECKPOINT_KEY``, else connection ``conn_id``'s password."""
    value = os.environ.get(KEY_ENV, "").strip()
    if value:
        return value
    from airflow.sdk import Connection

    try:
        conn = Connection.get(conn_id)
    except Exception as exc:  # AirflowNotFoundException and the SDK's own lookup errors
        raise CheckpointKeyError(f"no audit checkpoint key: set connection {conn_id!r} or {KEY_ENV}") from exc
    if not conn.password:
        raise CheckpointKeyError(f"connection {conn_id!r} has no password (expected the private JWK)")
    return conn.password


def checkpoint_tenant(warehouse_url: str, tenant_id: str, *, store_url: str | None = None,
                      private_jwk_json: str | None = None) -> Checkpoint | None:
    """Write a signed checkpoint of ``tenant_id``'s committed chain head, if the chain grew.

    Called by every task that appends to the chain, after its work has committed. Without a
    configured store it logs a warning and writes nothing: verification then detects edits only,
    not rechaining, tail cuts or truncation (docs/runbook.md, "Audit chain verification").
    """
    from credsync.warehouse import connect

    url = store_url or store_url_from_env()
    if not url:
        log.warning("audit checkpoints are off (%s / %s unset): rewrites of tenant %s's chain after this run"
                    " would go undetected", STORE_ENV, OBJECT_STORE_ENV, tenant_id)
        return None
    key = private_jwk_json or private_key_text()
    with connect(warehouse_url, autocommit=True) as conn:
        written = write_checkpoint(conn, tenant_id, open_store(url), key)
    if written is not None:
        log.info("audit checkpoint: tenant %s at %d events (event_id=%d)", tenant_id, written.seq,
                 written.last_event_id)
    return written
