"""Durable storage for the SCIM sandbox: scim2-server's in-memory storage plus a SQLite journal.

scim2-server keeps resources in memory only, and its ``--dump-resources`` file
cannot be loaded back. The sandbox must keep LMS users across restarts (the
pipeline's "no duplicate SCIM users on rerun" rule is tested against it), so
:class:`PersistentStorage` subclasses :class:`~scim2_server.memory.InMemoryStorage`
and writes every stored resource, exactly as returned to clients (id, meta,
version), to :class:`ResourceJournal`. At start the journal is replayed into
memory, and the version counter resumes past the highest stored version so an
ETag seen before a restart never names a different state afterwards.

Reads, filters, uniqueness and ETag checks stay scim2-server's own code.
"""

from __future__ import annotations

import itertools
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, cast

from scim2_models import Resource, ResourceType, ScimProvider
from scim2_server.memory import InMemoryStorage

# InMemoryStorage issues versions as W/"<counter>".
_VERSION = re.compile(r'^W/"(\d+)"$')

_SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    tenant        TEXT NOT NULL,
    resource_type TEXT NOT NULL,
    id            TEXT NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (tenant, resource_type, id)
)
"""


class ResourceJournal:
    """SQLite file holding the current state of every SCIM resource of every tenant.

    One connection shared by the request threads of a2wsgi, guarded by a lock;
    each write commits on its own so a killed sandbox loses at most the
    request in flight.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(_SCHEMA)

    def put(self, tenant: str, resource: Resource[Any]) -> None:
        """Store (insert or replace) one resource as its SCIM JSON."""
        assert resource.meta is not None and resource.id is not None
        body = json.dumps(resource.model_dump(mode="json"))
        with self._lock:
            self._db.execute(
                "INSERT INTO resources (tenant, resource_type, id, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (tenant, resource_type, id) DO UPDATE SET body = excluded.body",
                (tenant, resource.meta.resource_type, resource.id, body),
            )

    def delete(self, tenant: str, resource_type: str, resource_id: str) -> None:
        """Forget one resource."""
        with self._lock:
            self._db.execute(
                "DELETE FROM resources WHERE tenant = ? AND resource_type = ? AND id = ?",
                (tenant, resource_type, resource_id),
            )

    def clear(self, tenant: str) -> None:
        """Forget every resource of a tenant."""
        with self._lock:
            self._db.execute("DELETE FROM resources WHERE tenant = ?", (tenant,))

    def rows(self, tenant: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield ``(resource_type, SCIM JSON)`` for every stored resource of a tenant."""
        with self._lock, closing(self._db.cursor()) as cursor:
            cursor.execute(
                "SELECT resource_type, body FROM resources WHERE tenant = ? ORDER BY resource_type, id",
                (tenant,),
            )
            fetched = cursor.fetchall()
        for resource_type, body in fetched:
            yield resource_type, json.loads(body)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PersistentStorage(InMemoryStorage):
    """scim2-server's in-memory storage for one tenant, journaled to SQLite on every write.

    Every mutation runs under the storage lock (re-entrant, held by the server
    for a whole operation), so memory and journal change together; if the
    journal write fails the memory change is undone and the error reaches the
    client as a 500, never as a silent divergence.
    """

    def __init__(self, tenant: str, journal: ResourceJournal, provider: ScimProvider) -> None:
        super().__init__()
        self.tenant = tenant
        self.journal = journal
        self.provider = provider
        self._load()

    def _load(self) -> None:
        resources: list[Resource[Any]] = []
        for resource_type, body in self.journal.rows(self.tenant):
            model = self.provider.model_for(resource_type)
            if model is None:
                raise ValueError(
                    f"SCIM journal {self.journal.path}: tenant {self.tenant!r} holds a "
                    f"{resource_type!r} resource but the server serves no such resource type"
                )
            resources.append(cast(type[Resource[Any]], model).model_validate(body))
        self.resources = resources
        self._resume_versions(resources)

    def _resume_versions(self, resources: list[Resource[Any]]) -> None:
        highest = 0
        for resource in resources:
            match = _VERSION.match((resource.meta and resource.meta.version) or "")
            if match:
                highest = max(highest, int(match.group(1)))
        self.versions = itertools.count(highest + 1)

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        with self.lock:
            created = super().create(resource_type, resource)
            self._journal_or_undo(
                lambda: self.journal.put(self.tenant, created),
                undo=lambda: InMemoryStorage.delete(self, resource_type, cast(str, created.id)),
            )
            return created

    def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        with self.lock:
            previous = self._stored(resource_type, resource.id)
            updated = super().update(resource_type, resource, expected_version=expected_version)
            self._journal_or_undo(
                lambda: self.journal.put(self.tenant, updated),
                undo=lambda: self._store(previous, self._values_of(previous)),
            )
            return updated

    def delete(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        expected_version: str | None = None,
    ) -> None:
        with self.lock:
            previous = self._stored(resource_type, resource_id)
            super().delete(resource_type, resource_id, expected_version=expected_version)
            self._journal_or_undo(
                lambda: self.journal.delete(self.tenant, cast(str, resource_type.name), resource_id),
                undo=lambda: self._store(previous, self._values_of(previous)),
            )

    def reset(self) -> None:
        """Empty the tenant, in memory and on disk."""
        with self.lock:
            self.journal.clear(self.tenant)
            self.resources = []

    def counts(self) -> dict[str, int]:
        """Number of stored resources by resource type."""
        with self.lock:
            return {str(name): len(items) for name, items in self._resources.items() if items}

    @staticmethod
    def _journal_or_undo(write: Callable[[], None], *, undo: Callable[[], None]) -> None:
        try:
            write()
        except BaseException:
            undo()
            raise
