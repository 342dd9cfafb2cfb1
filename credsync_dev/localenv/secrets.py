"""Local-only secrets for the demo: sandbox credentials, the signing key and the audit checkpoint key.

Generated once, kept in ``build/demo/secrets.env`` (mode 0600, git-ignored) so
reruns sign with the same issuer key. Never printed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from credsync.audit.checkpoints import new_signing_jwk


def load_or_create_secrets(path: Path, tenant_ids: list[str]) -> dict[str, str]:
    secrets: dict[str, str] | None = None
    if path.exists():
        secrets = json.loads(path.read_text())
        if set(json.loads(secrets["SANDBOX_HRIS_TOKENS"])) != set(tenant_ids):
            secrets = None
        elif "CREDSYNC_AUDIT_CHECKPOINT_CONN" in secrets:
            return secrets
    if secrets is None:
        from sandbox.launcher import generate_secrets

        secrets = dict(generate_secrets(tenant_ids))
        secrets["CREDSYNC_SIGNING_CONN"] = json.dumps({"conn_type": "generic", "password": new_signing_jwk()})
    # A key of its own (added to older secrets files as they are): whoever holds the issuer key or
    # the warehouse cannot forge audit checkpoints.
    secrets["CREDSYNC_AUDIT_CHECKPOINT_CONN"] = json.dumps({"conn_type": "generic", "password": new_signing_jwk()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(secrets, handle)
    return secrets

