"""What the reconciliation DAG's tasks do, as plain functions over a warehouse URL.

Each returns a small dict for XCom (ids and counts, never data or secrets).
Reading Airflow connections happens here, lazily, so the rest of the package
imports without Airflow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from credsync.recon.snapshots import CourseRule, SnapshotIds


def course_rules() -> list[CourseRule]:
    """Course -> credential type from include/mappings/credential_rules.csv (the issuing rules)."""
    from credsync.credentials.rules import load_rules

    return [CourseRule(course, rule.credential_type, rule.min_score, rule_id=rule.rule_id,
                       course_codes="+".join(rule.course_codes), validity_days=rule.validity_days,
                       renewal_window_days=rule.renewal_window_days,
                       requires_credential=rule.requires_credential, rule_version=rule.rule_version)
            for rule in load_rules() for course in rule.course_codes]


LISTINGS = ("lms", "registry", "hris")


def snapshot_listing(warehouse_url: str, tenant_id: str, source: str) -> str:
    """COPY one outside system's listing of ``tenant_id`` into staging; returns the snapshot id.

    ``source``: ``lms`` (SCIM Users), ``registry`` (certificates) or ``hris``
    (certifications and payroll flags). One task per source, so the three
    listings run side by side and a failing system is retried on its own.
    """
    from credsync.recon import listings, snapshots
    from credsync.tenants import get_tenant
    from credsync.warehouse import connect

    if source not in LISTINGS:
        raise ValueError(f"unknown listing {source!r}; expected one of {', '.join(LISTINGS)}")
    tenant = get_tenant(tenant_id)
    with connect(warehouse_url, autocommit=True) as conn:
        if source == "lms":
            from credsync.hooks.scim import ScimHook

            scim = ScimHook(tenant.conn_id("scim"), tenant_id).client()
            snapshot_id = snapshots.load_lms_users(conn, tenant_id, listings.scim_users(scim))
        elif source == "hris":
            from credsync.hooks.hris import HrisHook

            hris = HrisHook(tenant.conn_id("hris"), tenant_id).client()
            snapshot_id = snapshots.load_hris_writebacks(conn, tenant_id, listings.hris_writebacks(hris))
        else:
            from credsync.delivery.config import load_delivery_settings
            from credsync.hooks.registry import RegistryHook

            registry = RegistryHook(tenant.conn_id("registry"), tenant_id,
                                    **load_delivery_settings().registry.client_options()).get_client()
            snapshot_id = snapshots.load_registry_certificates(
                conn, tenant_id, listings.registry_certificates(registry, tenant_id))
    return str(snapshot_id)


def compare(warehouse_url: str, tenant_id: str, snapshot_ids: dict[str, str], *,
            dag_run_id: str | None, as_of: datetime | None = None) -> dict[str, Any]:
    """Run the comparisons, findings lifecycle and safe fixes; returns the run's counts.

    ``snapshot_ids`` holds the lms, registry and hris snapshots; the course rules
    (the project's own mapping, not an outside listing) are snapshotted here unless given.
    """
    import uuid

    from credsync.recon.compare import reconcile
    from credsync.recon.config import load_recon_config
    from credsync.recon.snapshots import load_course_rules
    from credsync.warehouse import connect

    missing = [s for s in LISTINGS if s not in snapshot_ids]
    if missing:
        raise ValueError(f"no snapshot of {', '.join(missing)} for tenant {tenant_id!r}")
    with connect(warehouse_url, autocommit=True) as conn:
        rules = snapshot_ids.get("rules") or str(load_course_rules(conn, tenant_id, course_rules()))
        ids = SnapshotIds(**{k: uuid.UUID(v) for k, v in {**snapshot_ids, "rules": rules}.items()})
        outcome = reconcile(conn, tenant_id=tenant_id, snapshots=ids, config=load_recon_config(),
                            as_of=as_of, dag_run_id=dag_run_id)
    from credsync.audit.store import checkpoint_tenant

    checkpoint_tenant(warehouse_url, tenant_id)  # reconcile dead-letters into the audit chain
    return outcome.as_dict()


def gate(warehouse_url: str, tenant_id: str, run_id: str) -> dict[str, Any]:
    """Check the run against the thresholds; raises ReconGateFailed (with every breach) when it fails."""
    from credsync.recon.config import load_recon_config
    from credsync.recon.gate import ReconGateFailed, check_run

    outcome = check_run(warehouse_url, tenant_id=tenant_id, run_id=run_id, config=load_recon_config())
    if not outcome.success:
        raise ReconGateFailed(outcome.summary + (f" (Data Docs: {outcome.data_docs_url})"
                                                 if outcome.data_docs_url else ""))
    return {"run_id": run_id, "gate": "passed"}


def report(warehouse_url: str, tenant_id: str, report_dir: str | None = None) -> dict[str, str]:
    """Write the tenant's HTML + PNG report; returns its path."""
    from credsync.recon.config import load_recon_config
    from credsync.recon.report import build_report

    out = report_dir or load_recon_config().report_dir
    return {"report": str(build_report(warehouse_url, tenant_id, out))}
