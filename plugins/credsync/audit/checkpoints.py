"""Signed checkpoints of the audit chain heads, kept outside the warehouse.

The hash chain alone proves only that audit.events is *consistent*: anyone who
can write the table can edit a row and recompute every hash after it, cut the
tail, or empty it, and the chain still verifies. A checkpoint records, per
tenant, how long the chain was and what its head hashed to at a moment, signed
with an Ed25519 key the warehouse never holds. ``verify_chain`` then compares
the chain with every checkpoint and names what it finds:

- ``rechained``: the row at a checkpointed position is not the one checkpointed;
- ``tail cut``: the chain is shorter than a checkpoint says it was;
- ``truncated``: the tenant has checkpoints but no events at all;
- ``checkpoint forged``: a checkpoint file whose signature, name or content does not hold.

Files are compact JWS (``alg`` EdDSA), one per (tenant, chain length):
``<store>/<tenant>/<length, 16 digits>.jws``, never overwritten. The store is
any path-like object with ``/``, ``iterdir``, ``exists``, ``mkdir``,
``read_text`` and ``write_text`` (``pathlib.Path`` or Airflow's
``ObjectStoragePath``), so this module imports without Airflow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    import psycopg

CHECKPOINT_TYPE = "credsync-audit-checkpoint+jws"
_SUFFIX = ".jws"


class StorePath(Protocol):
    """The slice of the pathlib / ObjectStoragePath API the checkpoint store uses."""

    name: str

    def __truediv__(self, other: str) -> StorePath: ...
    def iterdir(self) -> Any: ...
    def exists(self) -> bool: ...
    def is_dir(self) -> bool: ...
    def mkdir(self, parents: bool = ..., exist_ok: bool = ...) -> None: ...
    def read_text(self, encoding: str = ...) -> str: ...
    def write_text(self, data: str, encoding: str = ...) -> Any: ...


class CheckpointKeyError(ValueError):
    """The checkpoint key is missing or is not an Ed25519 JWK of the needed kind."""


@dataclass(frozen=True)
class Checkpoint:
    """A tenant's chain head at one moment: its length, last event id and last row hash."""

    tenant_id: str
    seq: int
    last_event_id: int
    last_hash: str
    created_at: str

    def as_payload(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "seq": self.seq, "last_event_id": self.last_event_id,
                "last_hash": self.last_hash, "count": self.seq, "created_at": self.created_at}


@dataclass(frozen=True)
class ForgedCheckpoint:
    """A checkpoint file that cannot be trusted, and why."""

    tenant_id: str
    name: str
    reason: str


def _jwk(json_text: str, *, private: bool) -> Any:
    from jwcrypto import jwk
    from jwcrypto.common import JWException

    try:
        key = jwk.JWK.from_json(json_text)
    except (JWException, ValueError, TypeError) as exc:
        raise CheckpointKeyError("checkpoint key is not a valid JWK") from exc
    if key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
        raise CheckpointKeyError("checkpoint key must be a JWK with kty 'OKP' and crv 'Ed25519'")
    if private and not key.has_private:
        raise CheckpointKeyError("writing checkpoints needs the private JWK (field 'd')")
    return key


def new_signing_jwk() -> str:
    """A fresh Ed25519 private key as a JWK (JSON text): an audit checkpoint key or an issuer key."""
    from joserfc.jwk import OKPKey

    return json.dumps(OKPKey.generate_key("Ed25519").as_dict(private=True))


def public_jwk(json_text: str) -> str:
    """The public half (JSON) of an Ed25519 JWK given as private or public JSON."""
    return _jwk(json_text, private=False).export_public()


def chain_head(conn: psycopg.Connection, tenant_id: str) -> Checkpoint | None:
    """The committed head of ``tenant_id``'s chain as an unsigned checkpoint; None when empty.

    One statement, so length and head come from one snapshot; appends of a tenant commit in
    chain order (they hold the tenant's advisory lock until commit), so a snapshot always sees
    a prefix of the chain.
    """
    row = conn.execute(
        "SELECT c.n, h.event_id, h.row_hash"
        " FROM (SELECT count(*) AS n FROM audit.events WHERE tenant_id = %(t)s) c"
        " LEFT JOIN LATERAL (SELECT event_id, row_hash FROM audit.events WHERE tenant_id = %(t)s"
        "                    ORDER BY event_id DESC LIMIT 1) h ON true",
        {"t": tenant_id},
    ).fetchone()
    if not row or not row[0]:
        return None
    return Checkpoint(tenant_id=tenant_id, seq=int(row[0]), last_event_id=int(row[1]), last_hash=row[2],
                      created_at=datetime.now(UTC).isoformat(timespec="seconds"))


def sign_checkpoint(checkpoint: Checkpoint, private_jwk_json: str) -> str:
    """Compact JWS (EdDSA) over the checkpoint's canonical JSON."""
    from jwcrypto import jws

    key = _jwk(private_jwk_json, private=True)
    payload = json.dumps(checkpoint.as_payload(), sort_keys=True, separators=(",", ":"))
    token = jws.JWS(payload.encode("utf-8"))
    token.add_signature(key, alg="EdDSA", protected=json.dumps(
        {"alg": "EdDSA", "typ": CHECKPOINT_TYPE, "kid": key.thumbprint()}))
    return token.serialize(compact=True)


def read_checkpoint(token: str, public_jwk_json: str) -> Checkpoint:
    """The checkpoint inside ``token`` if its signature verifies under the key; else ValueError."""
    from jwcrypto import jws
    from jwcrypto.common import JWException

    key = _jwk(public_jwk_json, private=False)
    parsed = jws.JWS()
    try:
        parsed.deserialize(token.strip())
        parsed.verify(key, alg="EdDSA")
    except (JWException, ValueError, TypeError) as exc:
        raise ValueError("signature does not verify under the checkpoint public key") from exc
    try:
        data = json.loads(parsed.payload)
        return Checkpoint(tenant_id=str(data["tenant_id"]), seq=int(data["seq"]),
                          last_event_id=int(data["last_event_id"]), last_hash=str(data["last_hash"]),
                          created_at=str(data["created_at"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("signed payload is not a checkpoint") from exc


def _file_name(seq: int) -> str:
    return f"{seq:016d}{_SUFFIX}"


def _tenant_dir(store: StorePath, tenant_id: str) -> StorePath:
    # Quoted so that no tenant id can name a path outside its own folder.
    return store / quote(tenant_id, safe="")


def write_checkpoint(conn: psycopg.Connection, tenant_id: str, store: StorePath,
                     private_jwk_json: str) -> Checkpoint | None:
    """Checkpoint ``tenant_id``'s current head into ``store``; returns it, or None if nothing new.

    Nothing is written for an empty chain or when a checkpoint of this length already exists
    (a rerun that appended nothing); an existing file is never overwritten, so a checkpoint
    once written keeps testifying against a later rewrite.
    """
    head = chain_head(conn, tenant_id)
    if head is None:
        return None
    folder = _tenant_dir(store, tenant_id)
    target = folder / _file_name(head.seq)
    if target.exists():
        return None
    token = sign_checkpoint(head, private_jwk_json)
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(token + "\n", encoding="utf-8")
    return head


def load_checkpoints(store: StorePath, public_jwk_json: str, tenant_id: str | None = None
                     ) -> tuple[dict[str, list[Checkpoint]], list[ForgedCheckpoint]]:
    """Every trustworthy checkpoint per tenant (sorted by length) and the files that are not."""
    _jwk(public_jwk_json, private=False)  # a bad key is a configuration error, not a forgery
    trusted: dict[str, list[Checkpoint]] = {}
    forged: list[ForgedCheckpoint] = []
    if not store.exists():
        return trusted, forged
    folders = [_tenant_dir(store, tenant_id)] if tenant_id is not None else list(store.iterdir())
    for folder in folders:
        if not folder.exists() or not folder.is_dir():
            continue
        tenant = unquote(folder.name)
        for item in sorted(folder.iterdir(), key=lambda p: p.name):
            if not item.name.endswith(_SUFFIX):
                continue
            try:
                checkpoint = read_checkpoint(item.read_text(encoding="utf-8"), public_jwk_json)
            except ValueError as exc:
                forged.append(ForgedCheckpoint(tenant, item.name, str(exc)))
                continue
            # A valid signature in the wrong place is a copied or renamed file, not evidence.
            if checkpoint.tenant_id != tenant or item.name != _file_name(checkpoint.seq):
                forged.append(ForgedCheckpoint(
                    tenant, item.name,
                    f"signed for tenant {checkpoint.tenant_id!r} at length {checkpoint.seq},"
                    " which is not what its path says"))
                continue
            trusted.setdefault(tenant, []).append(checkpoint)
    for checkpoints in trusted.values():
        checkpoints.sort(key=lambda c: c.seq)
    return trusted, forged
