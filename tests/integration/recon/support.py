"""Building a reconciled tenant, seeding drift into it, and playing the owning flows."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from datetime import datetime

import psycopg

from credsync.recon.compare import RunOutcome, reconcile
from credsync.recon.config import load_recon_config
from credsync.recon.snapshots import (
    HrisWriteback,
    LmsUser,
    RegistryCertificate,
    SnapshotIds,
    load_course_rules,
    load_hris_writebacks,
    load_lms_users,
    load_registry_certificates,
)
from credsync_dev import synthetic

TYPES = 2  # CERT-1 (pays) and CERT-2


def new_tenant_id() -> str:
    return "t" + uuid.uuid4().hex[:10]


def employee(n: int) -> str:
    return f"E{n:08d}"


def credential_id(conn: psycopg.Connection, tenant_id: str, employee_id: str, credential_type: str) -> uuid.UUID:
    return conn.execute(
        "SELECT credential_id FROM core.credentials WHERE tenant_id = %s AND employee_id = %s "
        "AND credential_type = %s",
        (tenant_id, employee_id, credential_type),
    ).fetchone()[0]


def load_snapshots(
    conn: psycopg.Connection,
    tenant_id: str,
    *,
    lms: Callable[[list[LmsUser]], Iterable[LmsUser]] = list,
    registry: Callable[[list[RegistryCertificate]], Iterable[RegistryCertificate]] = list,
    hris: Callable[[list[HrisWriteback]], Iterable[HrisWriteback]] = list,
) -> SnapshotIds:
    """Snapshots of outside systems that agree with core, each passed through an edit first."""
    return SnapshotIds(
        lms=load_lms_users(conn, tenant_id, lms(list(synthetic.lms_users(conn, tenant_id)))),
        registry=load_registry_certificates(
            conn, tenant_id, registry(list(synthetic.registry_certificates(conn, tenant_id)))
        ),
        hris=load_hris_writebacks(conn, tenant_id, hris(list(synthetic.hris_writebacks(conn, tenant_id)))),
        rules=load_course_rules(conn, tenant_id, synthetic.course_rules(TYPES)),
    )


def run(conn: psycopg.Connection, tenant_id: str, snapshots: SnapshotIds, as_of: datetime,
        dag_run_id: str | None = None) -> RunOutcome:
    return reconcile(conn, tenant_id=tenant_id, snapshots=snapshots, config=load_recon_config(),
                     as_of=as_of, dag_run_id=dag_run_id)


def open_findings(conn: psycopg.Connection, tenant_id: str) -> dict[tuple[str, str], tuple]:
    """(finding_type, entity_key) -> (finding_id, action, owner, times_seen) of open findings."""
    rows = conn.execute(
        "SELECT finding_type, entity_key, finding_id, action, owner, times_seen FROM recon.findings "
        "WHERE tenant_id = %s AND resolved_at IS NULL",
        (tenant_id,),
    ).fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def replay_registry_dead_letters(conn: psycopg.Connection, tenant_id: str) -> int:
    """Play the on-call replay of registry dead letters: the registry holds the record again."""
    return conn.execute(
        "UPDATE audit.dead_letters SET status = 'replayed', replay_outcome = 'recreated' "
        "WHERE tenant_id = %s AND source = 'registry' AND status = 'open'",
        (tenant_id,),
    ).rowcount


def provision_requeued_learners(conn: psycopg.Connection, tenant_id: str) -> int:
    """Play SCIM provisioning: re-send learners marked for re-provisioning (active follows HRIS)."""
    return conn.execute(
        """
        UPDATE core.learners l SET synced_hash = 'synthetic',
               active = w.employment_status IN ('active', 'leave')
        FROM core.workers w
        WHERE w.tenant_id = l.tenant_id AND w.employee_id = l.employee_id
          AND l.tenant_id = %s AND l.synced_hash = 'recon:resync'
        """,
        (tenant_id,),
    ).rowcount
