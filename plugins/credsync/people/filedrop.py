"""The HRIS CSV file drop, read through the object store: ``<drop root>/<tenant>/workers_<UTC stamp>.csv``.

The drop root is ``$CREDSYNC_HRIS_DROP`` if set, else ``hris_drop/`` under the object store
(``$CREDSYNC_OBJECT_STORE``), or a root a run names (the DAG's ``drop_dir``): a URL the
object store understands (``file:///…``, ``s3://conn@bucket/…``) or an absolute path. Never a
worker's working directory: a drop read on one worker must be the drop every worker sees.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from credsync.objects import store_path
from credsync.people.staging import UnreadableRecord

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

DROP_FOLDER, DROP_ENV = "hris_drop", "CREDSYNC_HRIS_DROP"

#: Longest CSV cell read, in characters. csv's default (131,072) raised mid-file, failing the whole
#: file on every run; a longer cell (a 10 MB name) is read and refused by the mapping's ``max_length``
#: for its own record, naming the field. Past this a row is unreadable and quarantined as such.
CSV_FIELD_LIMIT = 64 * 1024 * 1024


def drop_root(root: str | None = None) -> ObjectStoragePath:
    """The drop root: ``root`` when given, else the configured one (see the module docstring)."""
    return store_path(DROP_FOLDER, override_env=DROP_ENV, explicit=root or None)


def latest_drop(root: str | None, tenant_id: str, after: str | None = None) -> ObjectStoragePath | None:
    """The newest ``workers_<UTC stamp>.csv`` of ``tenant_id`` whose name sorts after ``after``."""
    folder = drop_root(root) / tenant_id
    if not folder.exists():
        return None
    names = sorted(p.name for p in folder.iterdir() if p.name.startswith("workers_") and p.name.endswith(".csv"))
    candidates = [name for name in names if after is None or name > after]
    return folder / candidates[-1] if candidates else None


def read_worker_csv(path: Any) -> Iterator[dict[str, Any] | UnreadableRecord]:
    """Rows of an HRIS CSV export (dotted column names like ``name.given``); blanks become None.

    ``path`` is an ``ObjectStoragePath`` (or a local ``Path``). Bytes that are not UTF-8 are read as
    lone surrogates (``surrogateescape``), so the mapping quarantines that record (``invalid_unicode``,
    naming the field) instead of the whole file failing to decode; a row the csv module cannot parse
    is yielded as an :class:`UnreadableRecord`.
    """
    csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))  # only ever raised: process-wide
    with path.open("r", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        reader = csv.DictReader(handle)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield UnreadableRecord(line=reader.line_num, error=str(exc))
                continue
            yield {key: (value if value != "" else None) for key, value in row.items()}


def worker_csv_header(path: Any) -> list[str | None]:
    """The header row of an HRIS CSV export as sent (staging checks it against the mapping)."""
    with path.open("r", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        return [name or None for name in next(csv.reader(handle), [])]
