"""The object store: one configured base for the files tasks write and read, through ``ObjectStoragePath``.

``CREDSYNC_OBJECT_STORE`` is the base URL: ``file:///…`` in the demo and tests (a folder every worker
mounts), ``s3://conn_id@bucket/prefix`` (or ``gs://``, ``abfs://``, any fsspec protocol) in a
deployment. Each kind of file has its own folder under the base and its own variable to put it
somewhere else, e.g. audit checkpoints in a write-once bucket:

| folder | variable | what |
|---|---|---|
| ``audit-checkpoints/`` | ``CREDSYNC_AUDIT_CHECKPOINT_STORE`` | signed audit chain heads |
| ``data_docs/`` | ``CREDSYNC_DATA_DOCS_STORE`` | GX Data Docs |
| ``payroll/`` | ``CREDSYNC_PAYROLL_STORE`` | dated payroll flag CSVs |
| ``reports/`` | ``CREDSYNC_REPORT_STORE`` | reconciliation reports |
| ``hris_drop/`` | ``CREDSYNC_HRIS_DROP`` | HRIS CSV file drops |

A worker's local disk is never the store: on Celery or Kubernetes a file written there is gone for
every other worker, and a relative path would depend on the worker's working directory.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

OBJECT_STORE_ENV = "CREDSYNC_OBJECT_STORE"


def store_url(folder: str, override_env: str | None = None) -> str | None:
    """``$override_env`` if set, else ``$CREDSYNC_OBJECT_STORE/<folder>``; None when neither is configured."""
    explicit = os.environ.get(override_env, "").strip() if override_env else ""
    if explicit:
        return explicit
    base = os.environ.get(OBJECT_STORE_ENV, "").strip()
    return f"{base.rstrip('/')}/{folder.strip('/')}" if base else None


class ObjectStoreNotConfigured(RuntimeError):
    """A task needs the object store and none is configured; the message names the variables."""


def store_path(folder: str, override_env: str | None = None, explicit: Any = None) -> ObjectStoragePath:
    """Where a kind of file lives: ``explicit`` (a run's parameter) if given, else ``$override_env``, else
    ``$CREDSYNC_OBJECT_STORE/<folder>``. The one way credsync gets a store path.

    Raises :class:`ObjectStoreNotConfigured` when none is set, and ``ValueError`` for a relative path.
    """
    if explicit is not None and str(explicit).strip():
        return as_store_path(explicit)
    url = store_url(folder, override_env)
    if url is None:
        extra = f" or {override_env}" if override_env else ""
        raise ObjectStoreNotConfigured(
            f"no object store for {folder}/: set {OBJECT_STORE_ENV}{extra} to a URL every worker reaches "
            "(file:///shared/credsync on a shared mount, s3://aws_default@bucket/credsync, ...)")
    return open_path(url)


def as_store_path(location: Any) -> ObjectStoragePath:
    """A location as an ``ObjectStoragePath``: one already is; a URL (``s3://…``, ``file:///…``) as it is;
    an absolute local path as ``file://``. A relative path is refused: it would name a different file
    on every worker (each resolves it against its own working directory)."""
    from airflow.sdk import ObjectStoragePath

    if isinstance(location, ObjectStoragePath):
        return location
    text = str(location).strip()
    if "://" in text:
        return open_path(text)
    if not os.path.isabs(text):
        raise ValueError(f"{text!r} is a relative path: give a store URL (file:///..., s3://...) or an absolute "
                         "path, so every worker names the same file")
    return open_path(f"file://{os.path.normpath(text)}")


def open_path(url: str) -> ObjectStoragePath:
    """``url`` as an ``ObjectStoragePath`` (imported here: Airflow is heavy to import)."""
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(url)


def write_atomically(path: ObjectStoragePath, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never half of one:
    written in full under a temporary name in the same folder, then moved over ``path`` (a rename on
    a file system; on an object store the object appears whole)."""
    import uuid

    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.parent / f".{path.name}.{uuid.uuid4().hex}.part"
    try:
        temp.write_bytes(data)
        temp.rename(path)
    except BaseException:
        if temp.exists():
            temp.unlink()
        raise
