"""Checkpoint signing and the checkpoint store, on a plain directory (no warehouse, no Airflow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from credsync.audit.checkpoints import (
    Checkpoint,
    CheckpointKeyError,
    load_checkpoints,
    new_signing_jwk,
    public_jwk,
    read_checkpoint,
    sign_checkpoint,
)

KEY = new_signing_jwk()
PUBLIC = public_jwk(KEY)
OTHER_KEY = new_signing_jwk()
HEAD = Checkpoint(tenant_id="acme", seq=12, last_event_id=40, last_hash="ab" * 32,
                  created_at="2026-03-02T12:00:00+00:00")


def _store(tmp_path: Path, *checkpoints: tuple[Checkpoint, str], names: dict[int, str] | None = None) -> Path:
    for checkpoint, key in checkpoints:
        folder = tmp_path / checkpoint.tenant_id
        folder.mkdir(exist_ok=True)
        name = (names or {}).get(checkpoint.seq, f"{checkpoint.seq:016d}.jws")
        (folder / name).write_text(sign_checkpoint(checkpoint, key))
    return tmp_path


def test_a_signed_checkpoint_reads_back_under_the_public_key():
    token = sign_checkpoint(HEAD, KEY)
    assert read_checkpoint(token, PUBLIC) == HEAD
    assert "d" not in json.loads(PUBLIC)


def test_a_checkpoint_signed_with_another_key_is_refused():
    with pytest.raises(ValueError, match="signature"):
        read_checkpoint(sign_checkpoint(HEAD, OTHER_KEY), PUBLIC)


def test_an_edited_payload_breaks_the_signature():
    header, payload, signature = sign_checkpoint(HEAD, KEY).split(".")
    import base64

    raw = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw["seq"] = 3
    forged = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode().rstrip("=")
    with pytest.raises(ValueError):
        read_checkpoint(f"{header}.{forged}.{signature}", PUBLIC)


def test_signing_needs_the_private_key():
    with pytest.raises(CheckpointKeyError, match="private"):
        sign_checkpoint(HEAD, PUBLIC)
    with pytest.raises(CheckpointKeyError, match="Ed25519"):
        sign_checkpoint(HEAD, json.dumps({"kty": "oct", "k": "c2VjcmV0"}))


def test_load_sorts_by_length_and_names_forged_and_misplaced_files(tmp_path):
    earlier = Checkpoint("acme", 5, 17, "cd" * 32, "2026-03-01T12:00:00+00:00")
    store = _store(tmp_path, (HEAD, KEY), (earlier, KEY),
                   (Checkpoint("acme", 20, 50, "ef" * 32, "2026-03-03T12:00:00+00:00"), OTHER_KEY))
    # A valid checkpoint renamed to claim a longer chain, and one copied into another tenant's folder.
    (store / "acme" / f"{99:016d}.jws").write_text((store / "acme" / f"{5:016d}.jws").read_text())
    (store / "globex").mkdir()
    (store / "globex" / f"{12:016d}.jws").write_text(sign_checkpoint(HEAD, KEY))

    trusted, forged = load_checkpoints(store, PUBLIC)

    assert trusted == {"acme": [earlier, HEAD]}
    assert sorted((f.tenant_id, f.name) for f in forged) == [
        ("acme", f"{20:016d}.jws"), ("acme", f"{99:016d}.jws"), ("globex", f"{12:016d}.jws")]
    assert "signature" in next(f.reason for f in forged if f.name == f"{20:016d}.jws")


def test_load_of_one_tenant_and_of_a_missing_store(tmp_path):
    store = _store(tmp_path, (HEAD, KEY), (Checkpoint("globex", 1, 2, "01" * 32, "t"), KEY))
    assert load_checkpoints(store, PUBLIC, "globex")[0] == {"globex": [Checkpoint("globex", 1, 2, "01" * 32, "t")]}
    assert load_checkpoints(tmp_path / "nowhere", PUBLIC) == ({}, [])


def test_tenant_ids_cannot_escape_their_folder(tmp_path):
    from credsync.audit.checkpoints import _tenant_dir

    assert _tenant_dir(tmp_path, "../../etc").parent == tmp_path
