"""Publishing an issuer's DID document and status lists to the object store (``ObjectStoragePath``).

Layout under the did-web root (``$CREDSYNC_OBJECT_STORE/did-web`` or ``$CREDSYNC_DID_WEB_STORE``),
served as-is by the issuer's web origin:

    issuers/<tenant>/did.json                    DID document (application/did+json)
    issuers/<tenant>/status/revocation-<n>       signed BitstringStatusListCredential (application/vc+jwt)
    issuers/<tenant>/status/suspension-<n>       the same for suspensions (bits cleared again on unsuspend)

Each list credential carries ``ttl`` (:data:`credsync.credentials.status.TTL_MS`); the web origin serving
the folder sends the matching ``Cache-Control`` (:data:`credsync.credentials.status.CACHE_CONTROL`).

A file is rewritten only when its content changed (the status list's hash is kept in
``core.status_lists``), so rerunning a flow republishes nothing; a failed write is retried by
the next run because the hash is recorded only after the write succeeded.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from credsync.credentials import did_web, issuer_store, status
from credsync.credentials.issuers import DID_WEB_FOLDER, DID_WEB_STORE_ENV
from credsync.credentials.vc import iso, sign_payload
from credsync.objects import store_url, write_atomically

if TYPE_CHECKING:
    import psycopg

    from credsync.credentials.issuers import Issuer

log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """The did-web store is not configured or cannot be written."""


@dataclass
class PublishResult:
    did_document_written: bool = False
    lists_written: int = 0
    lists_unchanged: int = 0

    def as_counts(self) -> dict[str, object]:
        return {"did_document_written": self.did_document_written, "lists_written": self.lists_written,
                "lists_unchanged": self.lists_unchanged}


def did_web_root() -> str | None:
    return store_url(DID_WEB_FOLDER, DID_WEB_STORE_ENV)


def _write_if_changed(path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, data)  # a verifier reads the old file or the new one, never half of one
    return True


def status_list_token(issuer: Issuer, purpose: str, number: int, size: int, indexes: list[int],
                      *, now: datetime | None = None) -> tuple[str, str]:
    """(signed list credential, sha256 of its encodedList) for one list."""
    encoded = status.encode(status.bits_with(indexes, size))
    moment = now or datetime.now(UTC)
    credential = status.list_credential(issuer.did, issuer.base, purpose, number, encoded, iso(moment))
    payload = {**credential, "iss": issuer.did, "nbf": int(moment.timestamp()) - 1, "iat": int(moment.timestamp())}
    return sign_payload(payload, issuer), hashlib.sha256(encoded.encode()).hexdigest()


def publish_issuer(conn: psycopg.Connection, issuer: Issuer, *, root_url: str | None = None) -> PublishResult:
    """Write ``issuer``'s DID document and every changed status list; record what was published."""
    from credsync.objects import open_path

    root_url = root_url or did_web_root()
    if not root_url:
        raise PublishError(f"no did-web store: set CREDSYNC_OBJECT_STORE or {DID_WEB_STORE_ENV}")
    folder = open_path(root_url) / issuer.store_path()
    result = PublishResult()
    with conn.cursor() as cur:
        document = did_web.build_document(issuer.did, issuer_store.published_keys(cur, issuer.did))
        body = json.dumps(document, indent=2, sort_keys=True).encode()
        result.did_document_written = _write_if_changed(folder / "did.json", body)
        for purpose in status.PURPOSES:
            cur.execute("SELECT list_number, published_sha256 FROM core.status_lists"
                        " WHERE issuer_did = %s AND purpose = %s", (issuer.did, purpose))
            published = dict(cur.fetchall())
            for number, (size, indexes) in issuer_store.set_bits(cur, issuer.did, purpose).items():
                encoded_hash = hashlib.sha256(status.encode(status.bits_with(indexes, size)).encode()).hexdigest()
                target = folder / "status" / f"{purpose}-{number}"
                if published.get(number) == encoded_hash and target.exists():
                    result.lists_unchanged += 1
                    continue
                token, encoded_hash = status_list_token(issuer, purpose, number, size, indexes)
                target.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(target, token.encode("ascii"))
                cur.execute("UPDATE core.status_lists SET published_sha256 = %s, published_at = now(), set_bits = %s"
                            " WHERE issuer_did = %s AND purpose = %s AND list_number = %s",
                            (encoded_hash, len(indexes), issuer.did, purpose, number))
                result.lists_written += 1
    if not conn.autocommit:
        conn.commit()
    log.info("issuer %s published to %s: %s", issuer.did, folder, result.as_counts())
    return result
