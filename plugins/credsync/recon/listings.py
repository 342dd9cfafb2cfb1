"""Read-only listings of the outside systems, as snapshot records.

The HTTP is the hooks' (one retry policy, the connection's base URL and auth:
:mod:`credsync.hooks.transport`); this module turns what they list into records:

- LMS: SCIM 2.0 Users through :class:`credsync.hooks.scim.ScimClient` (the same SCIM root,
  ``base_path`` extra included, as provisioning).
- HRIS: certifications and payroll flags through :class:`credsync.hooks.hris.HrisClient`.
- Registry: certificates through :class:`credsync.hooks.registry.RegistryClient`.

Listings only read, so every page is retried on 429/5xx and on a reset mid-page.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from credsync.recon.snapshots import HrisWriteback, LmsUser, RegistryCertificate

if TYPE_CHECKING:
    from credsync.hooks.hris import HrisClient
    from credsync.hooks.scim import ScimClient

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def scim_users(scim: ScimClient) -> Iterator[LmsUser]:
    """Every SCIM User of the client's tenant, page by page."""
    yield from (scim_user(resource) for resource in scim.iter_users())


def scim_user(resource: dict[str, Any]) -> LmsUser:
    """One SCIM User resource as a snapshot record (primary work email, enterprise department/manager)."""
    emails = resource.get("emails") or []
    email = next((e.get("value") for e in emails if e.get("primary")), None) or \
        next((e.get("value") for e in emails), None)
    enterprise = resource.get(ENTERPRISE) or {}
    manager = enterprise.get("manager") or {}
    return LmsUser(
        scim_id=str(resource["id"]),
        external_id=resource.get("externalId"),
        user_name=resource.get("userName"),
        active=bool(resource.get("active", True)),
        email=email,
        department=enterprise.get("department"),
        manager_value=manager.get("value") if isinstance(manager, dict) else None,
    )


def hris_writebacks(hris: HrisClient) -> Iterator[HrisWriteback]:
    """Every certification and payroll flag the HRIS holds for the client's tenant."""
    for target, parse in (("hris_profile", hris_certification), ("payroll_flag", hris_payroll_flag)):
        yield from (parse(item) for item in hris.writebacks(target))


def hris_certification(item: dict[str, Any]) -> HrisWriteback:
    return HrisWriteback(
        target="hris_profile", employee_id=str(item["employee_id"]), credential_type=str(item["credential_type"]),
        status=item.get("status"), active=None, valid_from=_date(item.get("valid_from")),
        valid_until=_date(item.get("valid_until")), credential_id=item.get("credential_id"),
        updated_at=_timestamp(item.get("updated_at")),
    )


def hris_payroll_flag(item: dict[str, Any]) -> HrisWriteback:
    return HrisWriteback(
        target="payroll_flag", employee_id=str(item["employee_id"]),
        credential_type=str(item.get("flag") or item["credential_type"]), status=None,
        active=bool(item.get("active")), valid_from=_date(item.get("effective_from")),
        valid_until=_date(item.get("effective_to")), credential_id=item.get("credential_id"),
        updated_at=_timestamp(item.get("updated_at")),
    )


def registry_certificates(client: Any, tenant_id: str) -> Iterator[RegistryCertificate]:
    """Every certificate the registry lists for ``tenant_id`` (``client``: a RegistryClient)."""
    for item in client.list_certificates(tenant_id):
        yield registry_certificate(item)


def registry_certificate(item: dict[str, Any]) -> RegistryCertificate:
    return RegistryCertificate(
        registry_id=str(item["id"]), learner_id=str(item["learner_id"]),
        credential_type=str(item["credential_type"]), credential_version=str(item["credential_version"]),
        status=str(item["status"]), issued_on=_date(item.get("issued_on")),
        expires_on=_date(item.get("expires_on")), updated_at=_timestamp(item.get("updated_at")),
    )


def _date(value: Any) -> date | None:
    return date.fromisoformat(value[:10]) if value else None


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
