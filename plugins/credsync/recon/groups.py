"""Reconciliation of LMS group membership (comparison ``scim_groups``): core against the LMS.

What credsync wants (``core.group_memberships`` of the managed groups, members with an active
LMS account) is compared with what the LMS lists (SCIM ``GET /Groups`` with members, copied into
``staging.lms_group_members``). Finding types (include/recon.yaml):

- ``group_missing``: a managed group the LMS does not list (deleted there, or never pushed);
- ``group_member_missing``: a member the LMS group lacks (removed in the LMS);
- ``group_member_unexpected``: an account credsync provisioned that sits in a group it should not;
- ``group_member_foreign``: an account credsync never provisioned in a managed group (flagged for
  the owner, never removed automatically: docs/groups.md).

The safe fix (``requeue_group_push``) marks the group for a re-read; the next ``push_groups`` of
``scim_provisioning`` PATCHes the difference. The run is the tenant's reconciliation run of the
same DAG run (:func:`credsync.recon.compare.run_id_for`), so its drift rate goes through the
same gate. Plain Python over psycopg (no Airflow).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from credsync.groups.scim_groups import member_ids
from credsync.paths import sql_text
from credsync.recon.compare import run_id_for
from credsync.recon.config import ReconConfig

if TYPE_CHECKING:
    import psycopg

COMPARISON = "scim_groups"
FINDING_TYPES = ("group_missing", "group_member_missing", "group_member_unexpected", "group_member_foreign")


@dataclass
class GroupReconOutcome:
    run_id: str
    tenant_id: str
    population: int = 0
    drift_rate: float = 0.0
    by_type: dict[str, int] = field(default_factory=dict)
    resolved: int = 0
    auto_fixed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def load_lms_groups(conn: psycopg.Connection, tenant_id: str, groups: Iterable[dict[str, Any]]) -> uuid.UUID:
    """COPY the LMS groups (SCIM resources with members) into staging; replaces the tenant's last listing."""
    snapshot_id = uuid.uuid4()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("DELETE FROM staging.lms_group_members WHERE tenant_id = %s", (tenant_id,))
        with cur.copy("COPY staging.lms_group_members (snapshot_id, tenant_id, group_scim_id, group_external, "
                      "display_name, member_scim_id) FROM STDIN") as copy:
            for group in groups:
                members = sorted(member_ids(group))
                for member in members or [None]:
                    copy.write_row((snapshot_id, tenant_id, str(group["id"]), group.get("externalId"),
                                    group.get("displayName"), member))
    return snapshot_id


def reconcile_groups(conn: psycopg.Connection, *, tenant_id: str, snapshot_id: uuid.UUID, config: ReconConfig,
                     dag_run_id: str | None = None, as_of: datetime | None = None,
                     run_id: uuid.UUID | None = None) -> GroupReconOutcome:
    """Compare, record the comparison's drift, open/close findings and apply the safe fix; commits."""
    missing = [t for t in FINDING_TYPES if t not in config.findings]
    if missing:
        raise ValueError(f"include/recon.yaml: findings has no policy for {', '.join(missing)}")
    as_of = as_of or datetime.now(UTC)
    run_id = run_id or run_id_for(tenant_id, dag_run_id)
    params = {"tenant_id": tenant_id, "run_id": run_id, "seen_at": as_of, "groups_snapshot": snapshot_id,
              "comparisons": [COMPARISON]}
    outcome = GroupReconOutcome(run_id=str(run_id), tenant_id=tenant_id)
    with conn.transaction(), conn.cursor() as cur:
        # The run row is shared with the other comparisons of this DAG run; whichever comes first makes it.
        cur.execute("INSERT INTO recon.runs (run_id, tenant_id, dag_run_id, as_of) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (run_id) DO NOTHING", (run_id, tenant_id, dag_run_id, as_of))
        cur.execute(sql_text("recon/prepare.sql"))
        cur.executemany("INSERT INTO recon_policy VALUES (%s, %s, %s, %s, %s)",
                        [(p.finding_type, p.comparison, p.severity, p.owner, p.fix)
                         for p in config.findings.values() if p.comparison == COMPARISON])
        cur.execute(sql_text("recon/groups/observe.sql"), params)
        outcome.population = cur.execute(sql_text("recon/groups/population.sql"), params).fetchone()[0]
        cur.execute(sql_text("recon/record_comparisons.sql"),
                    {**params, "populations": [outcome.population]})
        outcome.drift_rate = float(cur.execute(
            "SELECT drift_rate FROM recon.run_comparisons WHERE run_id = %s AND comparison = %s",
            (run_id, COMPARISON)).fetchone()[0])
        cur.execute(sql_text("recon/upsert_findings.sql"), params)
        cur.execute(sql_text("recon/resolve_findings.sql"), params)
        outcome.resolved = cur.rowcount
        fixed = cur.execute(sql_text("recon/groups/apply_fixes.sql"), params).fetchall()
        outcome.auto_fixed = sum(1 for _, action in fixed if action == "auto_fixed")
        cur.execute(sql_text("recon/escalate_findings.sql"), {**params, "escalate_after": config.escalate_after_runs})
        outcome.by_type = dict(cur.execute(
            "SELECT finding_type, count(*) FROM recon.findings WHERE tenant_id = %s AND comparison = %s "
            "AND resolved_at IS NULL GROUP BY finding_type ORDER BY finding_type", (tenant_id, COMPARISON)).fetchall())
    return outcome


def reconcile_tenant_groups(warehouse_url: str, tenant_id: str, *, dag_run_id: str | None = None,
                            as_of: datetime | None = None) -> dict[str, Any]:
    """The reconciliation DAG's ``compare_groups`` task: list the tenant's LMS groups, compare, fix.

    The listing goes through the tenant's SCIM Connection (:class:`credsync.hooks.scim.ScimHook`),
    the same root provisioning and group push write to.
    """
    from credsync.groups.scim_groups import ScimGroups
    from credsync.hooks.scim import ScimHook
    from credsync.recon.config import load_recon_config
    from credsync.tenants import get_tenant
    from credsync.warehouse import connect

    tenant = get_tenant(tenant_id)
    groups = ScimGroups(ScimHook(tenant.conn_id("scim"), tenant_id).client())
    with connect(warehouse_url) as conn:
        snapshot_id = load_lms_groups(conn, tenant_id, groups.iter_groups())
        outcome = reconcile_groups(conn, tenant_id=tenant_id, snapshot_id=snapshot_id, config=load_recon_config(),
                                   dag_run_id=dag_run_id, as_of=as_of)
    return outcome.as_dict()
