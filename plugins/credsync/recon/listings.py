"""Read-only listings of the outside systems, as snapshot records.

- LMS: SCIM 2.0 ``GET {base}/{tenant}/v2/Users`` paged with startIndex/count (Bearer).
- HRIS: ``GET {base}/api/v1/tenants/{t}/certifications`` and ``/payroll-flags``,
  cursor-paged ``{"data": [...], "next_cursor": ...}`` (Bearer).
- Registry: through ``credsync.delivery.registry_client.RegistryClient.list_certificates``
  (OAuth2 client credentials, retries) built by ``credsync.hooks.registry.RegistryHook``.

Retries: 429 honours ``Retry-After``; 5xx and transient transport failures
(connection errors, timeouts, a reset in the middle of a page:
:func:`credsync.http_transient.is_transient`) back off exponentially with
jitter; bounded attempts. Listings only read, so a retry is harmless; each
page's body is read and decoded inside the retried attempt.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from credsync.recon.snapshots import HrisWriteback, LmsUser, RegistryCertificate

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SCIM_PAGE = 200
HRIS_PAGE = 500


@dataclass(frozen=True)
class HttpTarget:
    """Where a system answers and the bearer token to send (never logged)."""

    base_url: str
    token: str


class ListingError(RuntimeError):
    """A listing request failed for good; the message names the system, URL and status."""


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _get_json(session: Any, url: str, params: dict[str, Any], token: str, system: str) -> Any:
    from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

    from credsync.http_transient import is_transient

    def wait(state: Any) -> float:
        exc = state.outcome.exception()
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return exc.retry_after
        return wait_exponential_jitter(initial=0.5, max=20)(state)

    for attempt in Retrying(stop=stop_after_attempt(6), wait=wait, reraise=True,
                            retry=retry_if_exception(lambda exc: isinstance(exc, _Retryable)
                                                     or is_transient(exc))):
        with attempt:
            response = session.get(url, params=params, headers={"Authorization": f"Bearer {token}"},
                                   timeout=(5, 60))
            if response.status_code == 429:
                raise _Retryable(f"{system} {url}: 429", _seconds(response.headers.get("Retry-After")))
            if response.status_code >= 500:
                raise _Retryable(f"{system} {url}: {response.status_code}")
            if response.status_code != 200:
                raise ListingError(f"{system} listing {url} answered {response.status_code}: "
                                   f"{response.text[:300]}")
            return response.json()
    raise AssertionError("unreachable")  # Retrying re-raises on the last attempt


def _seconds(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 1.0
    except ValueError:
        return 1.0


def scim_users(target: HttpTarget, tenant_id: str) -> Iterator[LmsUser]:
    """Every SCIM User of ``tenant_id``'s LMS, page by page."""
    import requests

    url = f"{target.base_url.rstrip('/')}/{tenant_id}/v2/Users"
    with requests.Session() as session:
        start = 1
        while True:
            page = _get_json(session, url, {"startIndex": start, "count": SCIM_PAGE}, target.token, "SCIM")
            resources = page.get("Resources") or []
            yield from (scim_user(r) for r in resources)
            start += len(resources)
            if not resources or start > int(page.get("totalResults", 0)):
                return


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


def hris_writebacks(target: HttpTarget, tenant_id: str) -> Iterator[HrisWriteback]:
    """Every certification and payroll flag the HRIS holds for ``tenant_id``."""
    import requests

    base = f"{target.base_url.rstrip('/')}/api/v1/tenants/{tenant_id}"
    with requests.Session() as session:
        for path, parse in (("certifications", hris_certification), ("payroll-flags", hris_payroll_flag)):
            yield from (parse(item) for item in _cursor_pages(session, f"{base}/{path}", target.token))


def _cursor_pages(session: Any, url: str, token: str) -> Iterable[dict[str, Any]]:
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": HRIS_PAGE, **({"cursor": cursor} if cursor else {})}
        page = _get_json(session, url, params, token, "HRIS")
        yield from page.get("data") or []
        cursor = page.get("next_cursor")
        if not cursor:
            return


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
