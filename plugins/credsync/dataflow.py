"""The data-flow report: which personal-data fields leave to which system, in which region.

Generated, not written: registry fields from the registry mappings (push and pull), LMS account
fields from the SCIM User credsync builds (``credsync.people.provision.desired_user``), HRIS
write-back fields from the write-back payload, the payroll CSV's columns for the object store;
regions from each Connection's extra ``region`` (the store's: :func:`credsync.governance.residency.store_region`);
``allowed`` from the tenant's residency policy. ``python -m credsync.dataflow`` prints it.

A top-level module, above the parts it reads (delivery, people, registry_pull): governance, which
the HTTP layer and the push import, must not import them back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

# The HRIS write-back payloads (credsync.delivery.writeback.desired_writebacks), by target.
WRITEBACK_FIELDS = ("hris_profile.status", "hris_profile.summary", "hris_profile.valid_from",
                    "hris_profile.valid_until", "hris_profile.credential_id", "hris_profile.updated_at",
                    "payroll_flag.active", "payroll_flag.effective_from", "payroll_flag.effective_to",
                    "payroll_flag.credential_id")


@dataclass(frozen=True)
class Flow:
    tenant_id: str
    destination: str  # registry | lms | hris | object store
    flow: str
    conn_id: str
    region: str | None
    allowed: bool
    fields: tuple[str, ...]


def registry_fields() -> tuple[str, ...]:
    from credsync.delivery.payload import registry_mapping

    return tuple(registry_mapping().target_fields)


def pull_fields() -> tuple[str, ...]:
    from credsync.registry_pull.records import allowed_fields

    fields = allowed_fields()
    return tuple(sorted({f"credential.{f}" for f in fields["credential"]}
                        | {f"training_record.{f}" for f in fields["training_record"]}))


def scim_fields() -> tuple[str, ...]:
    """Every leaf of the SCIM User credsync sends, for a worker with every optional field set."""
    from credsync.people.provision import Worker, desired_user

    worker = Worker(employee_id="E", given_name="G", family_name="F", preferred_name="P", work_email="e@x",
                    employment_status="active", department="D", job_title="T", manager_id="M",
                    employment_type="employee")
    return tuple(sorted(_leaves(desired_user(worker, active=True, manager_scim_id="m"))))


def national_lrs_fields() -> tuple[str, ...]:
    """What the national LRS gets of a person: the fields of the outgoing statement mapping."""
    from credsync.mapping import load_mapping
    from credsync.national.statements import MAPPING_NAME, MAPPING_VERSION

    return tuple(load_mapping(MAPPING_NAME, MAPPING_VERSION).target_fields)


def flows(region_of: Callable[[str], str | None], payroll_store: Any = None) -> list[Flow]:
    """Every flow of every enabled tenant; ``region_of(conn_id)`` reads a Connection's extra ``region``.

    ``payroll_store``: where payroll CSVs go (an ``ObjectStoragePath``); None leaves the object store out.
    """
    from credsync.delivery.writeback import PAYROLL_COLUMNS
    from credsync.governance.residency import store_region
    from credsync.tenants import load_tenants

    out = []
    for tenant in load_tenants():
        for destination, flow, role, fields in (
            ("registry", "registry_push", "registry", registry_fields()),
            ("registry", "registry pull endpoint", "registry", pull_fields()),
            ("lms", "scim_provisioning", "scim", scim_fields()),
            ("hris", "hris_writeback", "hris", WRITEBACK_FIELDS),
        ):
            conn_id = tenant.conn_id(role)
            region = region_of(conn_id)
            allowed = tenant.allowed_regions is None or region in tenant.allowed_regions
            out.append(Flow(tenant.tenant_id, destination, flow, conn_id, region, allowed, fields))
        if tenant.national:
            # A tenant with a national profile sends learning records to the national LRS (docs/national.md).
            conn_id = str(tenant.national["lrs"])
            region = region_of(conn_id)
            allowed = tenant.allowed_regions is None or region in tenant.allowed_regions
            out.append(Flow(tenant.tenant_id, "national LRS", "national_lrs", conn_id, region, allowed,
                            national_lrs_fields()))
        if payroll_store is not None:
            conn_id, region, _ = store_region(payroll_store)
            allowed = tenant.allowed_regions is None or region in tenant.allowed_regions
            out.append(Flow(tenant.tenant_id, "object store", "hris_writeback payroll CSV", conn_id, region,
                            allowed, tuple(f"payroll_csv.{c}" for c in PAYROLL_COLUMNS)))
    return out


def markdown(report: list[Flow]) -> str:
    lines = ["| tenant | destination | flow | connection | region | allowed | fields |",
             "|---|---|---|---|---|---|---|"]
    for f in report:
        lines.append(f"| {f.tenant_id} | {f.destination} | {f.flow} | {f.conn_id} | {f.region or '(none)'} | "
                     f"{'yes' if f.allowed else 'NO'} | {', '.join(f.fields)} |")
    return "\n".join(lines)


def connection_region(conn_id: str) -> str | None:
    from credsync.governance.residency import connection_region as region

    return region(conn_id)


def _leaves(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "schemas":
                continue
            name = key.rsplit(":", 1)[-1] if key.startswith("urn:") else key
            yield from _leaves(inner, f"{prefix}{name}.")
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, prefix)
    else:
        yield prefix.rstrip(".")


def main() -> int:
    from credsync.delivery.writeback import payroll_store
    from credsync.objects import ObjectStoreNotConfigured

    try:
        store = payroll_store()
    except ObjectStoreNotConfigured:
        store = None
    report = flows(connection_region, store)
    print(markdown(report))
    refused = [f for f in report if not f.allowed]
    if refused:
        print(f"\n{len(refused)} flow(s) the tenants' residency policies refuse: those systems get nothing.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
