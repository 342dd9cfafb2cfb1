"""A consistent synthetic tenant, and the outside systems' listings that agree with it.

For tests and the benchmark only: fills ``core`` set-based from
include/sql/recon/synthetic/tenant.sql and reads back what the LMS, registry
and HRIS would list if every delivery had landed, as snapshot records.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from credsync.paths import sql_text
from credsync.recon.snapshots import CourseRule, HrisWriteback, LmsUser, RegistryCertificate

if TYPE_CHECKING:
    import psycopg


def create_tenant(conn: psycopg.Connection, tenant_id: str, *, workers: int, types: int, as_of: datetime) -> None:
    """Insert ``workers`` workers with ``types`` delivered credentials each (credential type CERT-1 pays)."""
    params = {"tenant_id": tenant_id, "workers": workers, "types": types, "as_of": as_of, "batch_id": uuid.uuid4()}
    with conn.transaction(), conn.cursor() as cur:
        for statement in _statements(sql_text("recon/synthetic/tenant.sql")):
            cur.execute(statement, params)


def course_rules(types: int) -> list[CourseRule]:
    """COURSE-j earns CERT-j."""
    return [CourseRule(f"COURSE-{j}", f"CERT-{j}", 50) for j in range(1, types + 1)]


def lms_users(conn: psycopg.Connection, tenant_id: str) -> Iterator[LmsUser]:
    """The LMS users that agree with core.learners/core.workers (streamed)."""
    for row in _stream(conn, "recon/synthetic/lms_users.sql", tenant_id):
        yield LmsUser(*row)


def registry_certificates(conn: psycopg.Connection, tenant_id: str) -> Iterator[RegistryCertificate]:
    """The registry certificates that agree with the acknowledged submissions (streamed)."""
    for row in _stream(conn, "recon/synthetic/registry_certificates.sql", tenant_id):
        yield RegistryCertificate(*row)


def hris_writebacks(conn: psycopg.Connection, tenant_id: str) -> Iterator[HrisWriteback]:
    """The HRIS certifications and payroll flags that agree with delivered write-backs (streamed)."""
    for row in _stream(conn, "recon/synthetic/hris_writebacks.sql", tenant_id):
        yield HrisWriteback(*row)


def _stream(conn: psycopg.Connection, sql_file: str, tenant_id: str) -> Iterator[tuple]:
    # A named (server-side) cursor keeps memory flat for millions of rows; it needs
    # its own connection because the caller COPYs on ``conn`` while we read.
    import psycopg

    with psycopg.connect(conn.info.dsn, password=conn.info.password) as reader, reader.transaction(), \
            reader.cursor(name=f"recon_synthetic_{uuid.uuid4().hex[:8]}") as cur:
        cur.itersize = 20000
        cur.execute(sql_text(sql_file), {"tenant_id": tenant_id})
        yield from cur


def _statements(script: str) -> list[str]:
    """Split a script of plain statements (no function bodies) at line-final semicolons."""
    body = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("--"))
    return [s.strip() for s in body.split(";\n") if s.strip().rstrip(";")]
