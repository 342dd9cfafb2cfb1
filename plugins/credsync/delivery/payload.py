"""What leaves for the registry: exactly the fields of the registry mapping CSV, nothing else.

The candidate SQL (include/sql/delivery/issue_batch.sql) selects columns named
like the mapping's ``source_field`` (``credential.issue_date``,
``worker.legal_name``...); the mapping then picks, checks and types them. A
source column that the mapping does not name cannot reach the payload,
whatever the query returns — that is the data-minimisation guarantee.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from credsync.mapping import FieldMapping, MappingError, load_mapping

REGISTRY_MAPPING = ("registry_certificate", "v1")


def idempotency_key(credential_id: str, version: int, operation: str) -> str:
    """The registry Idempotency-Key of one write: deterministic, so retries and replays are harmless.

    Must equal the key include/sql/delivery/enqueue_*.sql computes (a test holds them together).
    """
    return f"cs-{credential_id}-v{version}-{operation}"


def registry_mapping(name: str = "registry_certificate_v1") -> FieldMapping:
    base, _, version = name.rpartition("_")
    return load_mapping(base, version)


def build_certificate(source: Mapping[str, Any], mapping: FieldMapping | None = None, *,
                      record_key: str | None = None) -> dict[str, Any]:
    """The registry ``CertificateInput`` for one credential; raises MappingError naming the field.

    Dates become ISO strings; optional fields that are empty are sent as null
    (the contract allows null, and a stable shape keeps the request fingerprint stable).
    """
    mapping = mapping or registry_mapping()
    row = mapping.apply(source, record_key=record_key)
    return {target: _json_value(value) for target, value in row.items()}


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


__all__ = ["REGISTRY_MAPPING", "MappingError", "build_certificate", "idempotency_key", "registry_mapping"]
