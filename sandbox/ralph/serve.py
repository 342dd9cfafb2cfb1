"""Runs INSIDE Ralph's own virtualenv (never imported by credsync): write the auth file, serve Ralph.

``python serve.py`` with the environment :mod:`sandbox.ralph.launcher` sets:

- ``CREDSYNC_RALPH_USERS``: ``{"acme": {"password": "...", "target": "acme"}}``; written as Ralph's
  auth file (``RALPH_AUTH_FILE``, bcrypt hashes, mode 0600). One user per tenant, each with its own
  ``target``, so tenants are told apart by their credentials, not by the URL.
- ``CREDSYNC_RALPH_HOST`` / ``CREDSYNC_RALPH_PORT``: where uvicorn listens.
- ``RALPH_RUNSERVER_BACKEND=fs``, ``RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH``: Ralph's own settings.

Work-arounds for Ralph 5.1.0's own bugs (see ``sandbox/ralph/README.md``), nothing else changed:

1. The fs backend writes with ``operation_type`` CREATE, which refuses to write a file that exists:
   every POST/PUT after a target's first fails with 500 "Statements bulk indexation failed". The
   backend's default operation becomes APPEND (what the fs backend's own docstring offers for
   adding to a file), so statements accumulate in ``<dir>/<target>/fs_lrs.jsonl`` as they would in
   any LRS.
2. ``ralph runserver`` runs uvicorn with ``reload=True`` watching the working directory; uvicorn is
   started here directly, without reload.
3. A target directory must exist before the first write (Ralph does not create it): created here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


def write_auth_file(path: Path, users: dict[str, dict[str, str]]) -> None:
    import bcrypt

    entries = [
        {
            "agent": {"objectType": "Agent", "mbox": f"mailto:{name}@lrs-users.example.com"},
            "scopes": ["all"],
            "target": spec.get("target", name),
            "hash": bcrypt.hashpw(spec["password"].encode(), bcrypt.gensalt(rounds=4)).decode(),
            "username": name,
        }
        for name, spec in users.items()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(entries, handle)


def main() -> None:
    users = json.loads(os.environ.pop("CREDSYNC_RALPH_USERS"))
    write_auth_file(Path(os.environ["RALPH_AUTH_FILE"]), users)
    data_dir = Path(os.environ["RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH"])
    for spec_name, spec in users.items():
        (data_dir / spec.get("target", spec_name)).mkdir(parents=True, exist_ok=True)

    from ralph.backends.data.base import BaseOperationType
    from ralph.backends.lrs.fs import FSLRSBackend

    FSLRSBackend.default_operation_type = BaseOperationType.APPEND

    import uvicorn

    uvicorn.run("ralph.api:app", host=os.environ.get("CREDSYNC_RALPH_HOST", "127.0.0.1"),
                port=int(os.environ["CREDSYNC_RALPH_PORT"]), log_level="info")


if __name__ == "__main__":
    main()
