"""Local-only secrets for the demo: sandbox credentials, the signing, audit checkpoint and pseudonym keys.

Generated once, kept in ``build/demo/secrets.env`` (mode 0600, git-ignored) so
reruns sign with the same issuer key. Never printed. The file is an env file
(``KEY='value'`` lines, as ``sandbox/launcher.py`` writes for ``make sandbox``):
``set -a; . build/demo/secrets.env`` loads it into a shell, docker compose reads
it as an ``env_file``. Values that are JSON (token maps, JWKs) stay JSON inside
the quotes. A file from an older checkout holding one JSON object is read and
rewritten in this form.
"""

from __future__ import annotations

import json
from pathlib import Path
from secrets import token_urlsafe

from credsync.audit.checkpoints import new_signing_jwk


def load_or_create_secrets(path: Path, tenant_ids: list[str]) -> dict[str, str]:
    from sandbox.launcher import generate_secrets, write_secrets

    secrets = read_demo_secrets(path) if path.exists() else None
    if secrets is not None and set(json.loads(secrets["SANDBOX_HRIS_TOKENS"])) != set(tenant_ids):
        secrets = None
    if secrets is not None and "CREDSYNC_AUDIT_CHECKPOINT_CONN" in secrets and "SANDBOX_IDP_TOKENS" in secrets \
            and "SANDBOX_NELC_CREDENTIALS" in secrets and "SANDBOX_MARKETPLACE_CLIENTS" in secrets \
            and "CREDSYNC_PSEUDONYM_KEY_CONN" in secrets and _is_env_file(path):
        return secrets
    if secrets is None:
        secrets = dict(generate_secrets(tenant_ids))
        secrets["CREDSYNC_SIGNING_CONN"] = json.dumps({"conn_type": "generic", "password": new_signing_jwk()})
    # A key of its own (added to older secrets files as they are): whoever holds the issuer key or
    # the warehouse cannot forge audit checkpoints.
    secrets.setdefault("CREDSYNC_AUDIT_CHECKPOINT_CONN",
                       json.dumps({"conn_type": "generic", "password": new_signing_jwk()}))
    # The pseudonym master secret (erasure, retention, the marketplace's contractors and alumni): kept
    # with the other keys, since losing it makes every pseudonym irreversible.
    secrets.setdefault("CREDSYNC_PSEUDONYM_KEY_CONN",
                       json.dumps({"conn_type": "generic", "password": token_urlsafe(48)}))
    # The IdP sandbox came later: a secrets file written before it gets its tokens added.
    secrets.setdefault("SANDBOX_IDP_TOKENS", generate_secrets(tenant_ids)["SANDBOX_IDP_TOKENS"])
    # So did the national LRS (NELC) sandbox.
    secrets.setdefault("SANDBOX_NELC_CREDENTIALS", generate_secrets(tenant_ids)["SANDBOX_NELC_CREDENTIALS"])
    # And the talent marketplace's OAuth clients (one per tenant, with their event signing secrets).
    fresh = generate_secrets(tenant_ids)
    for name in ("SANDBOX_MARKETPLACE_CLIENTS", "SANDBOX_MARKETPLACE_WEBHOOK_SECRETS"):
        if name in fresh:
            secrets.setdefault(name, fresh[name])
    write_secrets(path, secrets)
    return secrets


def read_demo_secrets(path: Path) -> dict[str, str]:
    """The demo's secrets file: the env-file form, or the JSON object older checkouts wrote."""
    from sandbox.launcher import read_secrets

    if not _is_env_file(path):
        return dict(json.loads(path.read_text(encoding="utf-8")))
    return read_secrets(path)


def _is_env_file(path: Path) -> bool:
    return not path.read_text(encoding="utf-8").lstrip().startswith("{")
