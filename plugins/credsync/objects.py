"""The object store: one configured base for the files tasks publish, through ``ObjectStoragePath``.

``CREDSYNC_OBJECT_STORE`` is the base URL: ``file:///…`` in the demo and tests, ``s3://conn_id@bucket/prefix``
(or ``gs://``, ``abfs://``…) in a deployment. Each kind of file has its own folder under the base
(``audit-checkpoints/``, ``data_docs/``…) and its own variable to put it somewhere else, e.g. audit
checkpoints in a write-once bucket. A worker's local disk is never the store: on Celery or Kubernetes
a file written there is gone for every other worker.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

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


def open_path(url: str) -> ObjectStoragePath:
    """``url`` as an ``ObjectStoragePath`` (imported here: Airflow is heavy to import)."""
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(url)
