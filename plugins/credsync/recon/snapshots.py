"""Outside systems' listings, copied into staging snapshot tables (COPY).

Each load registers a snapshot id in ``staging.recon_snapshots``. Every snapshot is a partition
of its table of its own (migration 0026): the load fills a standalone unlogged table, checks it and
ATTACHes it, which locks the parent only against other DDL, so other tenants' comparisons keep
reading; a failed load leaves nothing behind and the previous snapshot intact. Snapshots past the
retention are dropped as whole partitions, not deleted row by row, so staging does not bloat.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import date, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)


class LmsUser(NamedTuple):
    """One SCIM User as the LMS lists it."""

    scim_id: str
    external_id: str | None
    user_name: str | None
    active: bool
    email: str | None
    department: str | None
    manager_value: str | None


class RegistryCertificate(NamedTuple):
    """One certificate as the registry lists it."""

    registry_id: str
    learner_id: str
    credential_type: str
    credential_version: str
    status: str
    issued_on: date | None
    expires_on: date | None
    updated_at: datetime | None


class HrisWriteback(NamedTuple):
    """One HRIS profile certification or payroll flag (credential_type = flag name)."""

    target: str  # hris_profile | payroll_flag
    employee_id: str
    credential_type: str
    status: str | None
    active: bool | None
    valid_from: date | None
    valid_until: date | None
    credential_id: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class CourseRule:
    """One course of a credential rule: completing it (with the rule's other courses) earns the type.

    The defaults describe a single-course rule named after its credential type.
    """

    course_code: str
    credential_type: str
    min_score: float | None = None
    rule_id: str = ""
    course_codes: str = ""  # the rule's whole course set, '+'-joined
    validity_days: int = 365
    renewal_window_days: int = 30
    requires_credential: str | None = None
    rule_version: str = "1"

    def __post_init__(self) -> None:
        if not self.rule_id:
            object.__setattr__(self, "rule_id", self.credential_type)
        if not self.course_codes:
            object.__setattr__(self, "course_codes", self.course_code)


@dataclass(frozen=True)
class SnapshotIds:
    """The snapshots one reconciliation run compares against."""

    lms: uuid.UUID
    registry: uuid.UUID
    hris: uuid.UUID
    rules: uuid.UUID


_TABLES = {
    "lms_learners": "staging.lms_learners_snapshot",
    "registry": "staging.registry_snapshot",
    "hris_writeback": "staging.hris_writeback_snapshot",
    "credential_rules": "staging.credential_rules_snapshot",
}
# What identifies a record within one listing; a listing naming one twice is refused.
_KEYS = {
    "lms_learners": ("scim_id",),
    "registry": ("registry_id",),
    "hris_writeback": ("target", "employee_id", "credential_type"),
}


class ListingDuplicateError(ValueError):
    """A listing holds the same record key more than once; nothing of it was loaded."""


def load_lms_users(conn: psycopg.Connection, tenant_id: str, users: Iterable[LmsUser]) -> uuid.UUID:
    """COPY ``users`` into ``staging.lms_learners_snapshot``; returns the snapshot id."""
    rows = ((*u, (u.email or "").strip().lower() or None) for u in users)
    return _load(conn, tenant_id, "lms_learners", [*LmsUser._fields, "email_normalized"], rows)


def load_registry_certificates(
    conn: psycopg.Connection, tenant_id: str, certificates: Iterable[RegistryCertificate]
) -> uuid.UUID:
    """COPY ``certificates`` into ``staging.registry_snapshot``; returns the snapshot id."""
    return _load(conn, tenant_id, "registry", list(RegistryCertificate._fields), certificates)


def load_hris_writebacks(
    conn: psycopg.Connection, tenant_id: str, writebacks: Iterable[HrisWriteback]
) -> uuid.UUID:
    """COPY ``writebacks`` into ``staging.hris_writeback_snapshot``; returns the snapshot id."""
    return _load(conn, tenant_id, "hris_writeback", list(HrisWriteback._fields), writebacks)


def load_course_rules(conn: psycopg.Connection, tenant_id: str, rules: Iterable[CourseRule]) -> uuid.UUID:
    """COPY the course -> credential rules into ``staging.credential_rules_snapshot``."""
    unique = {(r.rule_id, r.course_code): r for r in rules}
    columns = _names(CourseRule)
    return _load(conn, tenant_id, "credential_rules", columns, map(attrgetter(*columns), unique.values()))


def _require_unique_keys(cur: psycopg.Cursor, source: str, table: str, snapshot_id: uuid.UUID, count: int) -> None:
    """One pass over the fresh snapshot instead of a unique index maintained row by row."""
    key = _KEYS.get(source)
    if not key or count < 2:
        return
    columns = ", ".join(key)
    duplicates = cur.execute(
        f"SELECT {columns}, count(*) FROM {table} WHERE snapshot_id = %s GROUP BY {columns} "
        "HAVING count(*) > 1 ORDER BY count(*) DESC LIMIT 5", (snapshot_id,)).fetchall()
    if duplicates:
        named = "; ".join(f"{'/'.join(str(v) for v in row[:-1])} ({row[-1]}x)" for row in duplicates)
        raise ListingDuplicateError(
            f"{source} listing names the same {'/'.join(key)} more than once: {named}. Nothing was loaded "
            "and the previous snapshot stays; the source system's listing needs fixing (or a paging bug).")


def _retention_minutes() -> int:
    from credsync.recon.config import load_recon_config

    return load_recon_config().snapshot_retention_minutes


def _names(record: type) -> list[str]:
    return [f.name for f in fields(record)]


def _load(
    conn: psycopg.Connection, tenant_id: str, source: str, columns: list[str], rows: Iterable[tuple]
) -> uuid.UUID:
    from psycopg import sql

    table = _TABLES[source]
    snapshot_id = uuid.uuid4()
    parent = sql.Identifier("staging", table.split(".", 1)[1])
    part = _partition(table, snapshot_id)
    column_list = sql.SQL(", ").join(map(sql.Identifier, ["snapshot_id", "tenant_id", *columns]))
    count = 0
    # The records are tuples in column order; the two leading constants are dumped once, as text.
    lead = (str(snapshot_id), tenant_id)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE UNLOGGED TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
                    .format(part, parent))
        with cur.copy(sql.SQL("COPY {} ({}) FROM STDIN").format(part, column_list)) as copy:
            write = copy.write_row
            for row in rows:
                write((*lead, *row))
                count += 1
        _require_unique_keys(cur, source, part.as_string(cur), snapshot_id, count)
        # The constraint proves the partition's bound, so ATTACH does not scan it again.
        cur.execute(sql.SQL("ALTER TABLE {} ADD CHECK (snapshot_id = {})").format(part, sql.Literal(snapshot_id)))
        cur.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES IN ({})")
                    .format(parent, part, sql.Literal(snapshot_id)))
        cur.execute(
            "INSERT INTO staging.recon_snapshots (snapshot_id, tenant_id, source, row_count) VALUES (%s, %s, %s, %s)",
            (snapshot_id, tenant_id, source, count),
        )
    # Fresh statistics, or the comparisons are planned for a few thousand rows instead of millions.
    conn.execute(sql.SQL("ANALYZE {}").format(part))
    conn.commit()
    _drop_expired(conn, tenant_id, source, table, keep=snapshot_id)
    return snapshot_id


def _partition(table: str, snapshot_id: uuid.UUID):
    from psycopg import sql

    return sql.Identifier("staging", f"{table.split('.', 1)[1]}_{snapshot_id.hex}")


def _drop_expired(conn: psycopg.Connection, tenant_id: str, source: str, table: str, *, keep: uuid.UUID) -> None:
    """Drop the tenant's snapshots of ``source`` that are past the retention, a partition each.

    Older snapshots go only once they are past the retention: a run that overlaps this one (a
    backfill, a rerun) still compares against the snapshot it loaded itself. Dropping a partition
    needs a short exclusive lock on the parent; a comparison holding it for longer than the lock
    timeout keeps the old snapshot until the next load, rather than stalling every reader behind us.
    """
    from psycopg import errors, sql

    old = [r[0] for r in conn.execute(
        "SELECT snapshot_id FROM staging.recon_snapshots WHERE tenant_id = %s AND source = %s"
        " AND snapshot_id <> %s AND loaded_at < now() - make_interval(mins => %s)",
        (tenant_id, source, keep, _retention_minutes()),
    )]
    # Partitions no snapshot row names: left behind when a crash emptied the unlogged
    # staging.recon_snapshots (a load attaches and registers in one transaction, so an unfinished
    # load's partition is invisible here).
    orphans = [r[0] for r in conn.execute(
        "SELECT substring(c.relname from '([0-9a-f]{32})$')::uuid FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass"
        " AND NOT EXISTS (SELECT 1 FROM staging.recon_snapshots s"
        "                 WHERE s.snapshot_id = substring(c.relname from '([0-9a-f]{32})$')::uuid)",
        (table,),
    )]
    conn.commit()
    for snapshot_id in [*old, *orphans]:
        try:
            with conn.transaction():
                conn.execute("SET LOCAL lock_timeout = '2s'")
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_partition(table, snapshot_id)))
                conn.execute("DELETE FROM staging.recon_snapshots WHERE snapshot_id = %s", (snapshot_id,))
        except errors.LockNotAvailable:
            log.info("snapshot %s of tenant %s (%s) is in use by a comparison; it is dropped by the next load",
                     snapshot_id, tenant_id, source)
            return
