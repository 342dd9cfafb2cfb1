"""One write transaction on a sandbox's shared SQLite connection (registry and marketplace stores).

The connection is opened with ``isolation_level=None`` and shared by the app's threads behind a lock:
``BEGIN IMMEDIATE`` takes SQLite's write lock at once, so writes are serialised and never upgrade a
read lock midway; any exception rolls the whole write back.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def immediate_transaction(db: sqlite3.Connection,
                          lock: threading.Lock | threading.RLock) -> Iterator[sqlite3.Connection]:
    with lock:
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
