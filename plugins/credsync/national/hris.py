"""The national fields of an HRIS extract: National ID / Iqama and the Arabic legal names.

For a tenant whose national profile says ``hris_fields: true``, staging applies
include/mappings/hris_worker_national_v1.csv to each record besides the worker mapping: an invalid
national id quarantines the record under rule ``national_id_invalid`` (naming the failed check:
length, prefix or check_digit), a hostile Arabic name under the usual guards (control and bidi
characters, NUL, mixed scripts). Everyone else's extracts are read as before.
"""

from __future__ import annotations

from pathlib import Path

from credsync.mapping import FieldMapping, load_mapping

MAPPING_NAME, MAPPING_VERSION = "hris_worker_national", "v1"


def national_mapping() -> FieldMapping:
    return load_mapping(MAPPING_NAME, MAPPING_VERSION)


def hris_supplements(tenant_id: str, path: Path | None = None) -> tuple[FieldMapping, ...]:
    """The supplement mappings for ``tenant_id``'s HRIS extracts (none without ``hris_fields``)."""
    from credsync.national_profile import profile_of
    from credsync.tenants import load_tenants

    tenant = next((t for t in load_tenants(path, enabled_only=False) if t.tenant_id == tenant_id), None)
    profile = profile_of(tenant) if tenant is not None else None
    return (national_mapping(),) if profile is not None and profile.hris_fields else ()
