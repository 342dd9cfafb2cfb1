"""HRIS profile and payroll flag write-back, plus the dated payroll CSV for payroll systems without an API.

For each (worker, credential type) the current credential decides:

- the HRIS profile shows its status in plain language ("CPR & AED
  certification active until 2027-03-30") plus machine fields;
- for ``pay_impact`` credentials, a payroll flag that is active only while the
  credential is, with effective dates. An inactive credential that never had an
  active flag sends no flag (nothing to compensate).

core.writebacks keeps the hash of what was last delivered, so a rerun sends
nothing unless the content changed. Payloads carry no timestamps of our own
(``updated_at`` is the credential's status change), which keeps hashes stable.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from credsync import csv_safe
from credsync.audit import append_event, dead_letter
from credsync.hooks.transport import ServiceUnavailable as RegistryUnavailable
from credsync.objects import store_path, write_atomically
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg
    from airflow.sdk import ObjectStoragePath

    from credsync.hooks.hris import HrisClient as HrisWritebackClient

DEAD_LETTER_SOURCE = "hris_writeback"
PAYROLL_FOLDER, PAYROLL_ENV = "payroll", "CREDSYNC_PAYROLL_STORE"
PAYROLL_COLUMNS = ("tenant_id", "employee_id", "flag", "active", "effective_from", "effective_to",
                   "credential_id")


@dataclass(frozen=True)
class Writeback:
    """One thing the HRIS (profile or payroll flag) should say about one worker."""

    employee_id: str
    target: str  # hris_profile | payroll_flag
    credential_type: str
    credential_id: str
    status: str
    summary: str | None
    effective_from: date | None
    effective_to: date | None
    payload: dict[str, Any] = field(hash=False)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.employee_id, self.target, self.credential_type)

    @property
    def entity_key(self) -> str:
        return ":".join(self.key)

    @property
    def payload_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class WritebackResult:
    tenant_id: str
    considered: int = 0
    delivered: int = 0
    unchanged: int = 0
    dead: int = 0
    pending: int = 0
    payroll_csv: str | None = None
    payroll_rows: int = 0

    def as_counts(self) -> dict[str, Any]:
        return asdict(self)


@cache
def credential_labels() -> dict[str, str]:
    """credential_type -> the achievement name people read ("CPR & AED")."""
    try:
        from credsync.credentials.rules import load_rules

        return {rule.credential_type: rule.achievement_name for rule in load_rules()}
    except (ImportError, FileNotFoundError):
        return {}


def label_for(credential_type: str) -> str:
    return credential_labels().get(credential_type) or credential_type.replace("_", " ").capitalize()


def summary_text(credential_type: str, status: str, expiry: date | None, changed_on: date) -> str:
    """The plain-language line HR people read on the profile."""
    label = f"{label_for(credential_type)} certification"
    if status == "active":
        return f"{label} active until {expiry.isoformat()}" if expiry else f"{label} active (does not expire)"
    if status == "expired":
        return f"{label} expired on {(expiry or changed_on).isoformat()}"
    return f"{label} revoked on {changed_on.isoformat()}"


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def desired_writebacks(conn: psycopg.Connection, tenant_id: str) -> list[Writeback]:
    """Every profile line and payroll flag the current credentials call for."""
    rows = conn.execute(sql_text("delivery/current_credentials.sql"), {"tenant_id": tenant_id}).fetchall()
    desired = []
    for employee_id, ctype, credential_id, status, issued, expiry, changed_at, pay_impact in rows:
        changed_on = changed_at.astimezone(UTC).date()
        summary = summary_text(ctype, status, expiry, changed_on)
        desired.append(Writeback(
            employee_id, "hris_profile", ctype, credential_id, status, summary, issued, expiry,
            {"status": status, "summary": summary, "valid_from": _iso(issued), "valid_until": _iso(expiry),
             "credential_id": credential_id,
             "updated_at": changed_at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")},
        ))
        if pay_impact:
            active = status == "active"
            # The flag ends when the credential stopped counting: its expiry, or the revocation day.
            ends = expiry if active or status == "expired" else changed_on
            desired.append(Writeback(
                employee_id, "payroll_flag", ctype, credential_id, status, None, issued, ends,
                {"active": active, "effective_from": _iso(issued), "effective_to": _iso(ends),
                 "credential_id": credential_id},
            ))
    return desired


def sync_writebacks(warehouse_url: str, tenant_id: str, client: HrisWritebackClient, *, as_of: date,
                    payroll_dir: Any = None, only: set[str] | None = None) -> WritebackResult:
    """Send what changed to the HRIS, record it, and write the dated payroll CSV.

    ``payroll_dir`` is where the CSV goes (:func:`payroll_store`; None = the configured store).

    ``only`` limits delivery to these entity keys (``employee:target:type``),
    which dead-letter replay uses. Raises ServiceUnavailable after recording
    progress when the HRIS stays unavailable past the retry budget.
    """
    from credsync.governance.residency import enforce_store
    from credsync.warehouse import connect

    # The payroll CSV is personal data leaving for the object store: checked before anything is sent,
    # so a store outside the tenant's regions stops the run whole instead of after the HRIS writes.
    enforce_store(tenant_id, payroll_csv_path(payroll_dir, tenant_id, as_of), "payroll CSV")
    result = WritebackResult(tenant_id)
    with connect(warehouse_url) as conn:
        desired = desired_writebacks(conn, tenant_id)
        last = {(e, t, c): (h, s) for e, t, c, h, s in
                conn.execute(sql_text("delivery/writebacks_state.sql"), {"tenant_id": tenant_id})}
        conn.commit()
        flags: list[Writeback] = []
        unavailable: RegistryUnavailable | None = None
        for wb in desired:
            previous = last.get(wb.key)
            if wb.target == "payroll_flag" and previous is None and wb.status != "active":
                continue  # never flagged: there is nothing to switch off
            if wb.target == "payroll_flag":
                flags.append(wb)
            if only is not None and wb.entity_key not in only:
                continue
            result.considered += 1
            if previous is not None and previous[0] == wb.payload_hash and previous[1] in ("delivered", "dead"):
                result.unchanged += 1
                continue
            if unavailable is not None:
                result.pending += 1
                continue
            try:
                answer = client.put(wb.target, wb.employee_id, wb.credential_type, wb.payload)
            except RegistryUnavailable as exc:
                unavailable = exc
                _record(conn, tenant_id, wb, "pending")
                result.pending += 1
                conn.commit()
                continue
            if answer.status in (200, 201):
                _record(conn, tenant_id, wb, "delivered")
                append_event(conn, tenant_id=tenant_id, event_type=f"writeback.{wb.target}",
                             entity_type="worker", entity_key=wb.entity_key,
                             detail={"credential_id": wb.credential_id, "status": wb.status,
                                     "payload_hash": wb.payload_hash, "http_status": answer.status})
                result.delivered += 1
            else:
                _record(conn, tenant_id, wb, "dead")
                dead_letter(conn, tenant_id=tenant_id, source=DEAD_LETTER_SOURCE, entity_key=wb.entity_key,
                            reason=f"hris_rejected_{answer.status}",
                            detail={"status": answer.status, "body": answer.body},
                            payload={"target": wb.target, "employee_id": wb.employee_id,
                                     "credential_type": wb.credential_type, "payload": wb.payload})
                result.dead += 1
            conn.commit()
    result.payroll_csv = str(write_payroll_csv(payroll_dir, tenant_id, as_of, flags))
    result.payroll_rows = len(flags)
    if unavailable is not None:
        raise unavailable
    return result


def _record(conn: psycopg.Connection, tenant_id: str, wb: Writeback, state: str) -> None:
    conn.execute(sql_text("delivery/upsert_writeback.sql"), {
        "tenant_id": tenant_id, "employee_id": wb.employee_id, "target": wb.target,
        "credential_type": wb.credential_type, "credential_id": wb.credential_id, "status": wb.status,
        "summary": wb.summary, "effective_from": wb.effective_from, "effective_to": wb.effective_to,
        "payload_hash": wb.payload_hash, "state": state,
    })


def payroll_store(location: Any = None) -> ObjectStoragePath:
    """Where payroll CSVs go: ``location`` (``writeback.payroll_csv_dir``: a store URL or absolute path)
    if given, else ``$CREDSYNC_PAYROLL_STORE``, else ``$CREDSYNC_OBJECT_STORE/payroll``."""
    return store_path(PAYROLL_FOLDER, PAYROLL_ENV, explicit=location)


def payroll_csv_path(payroll_dir: Any, tenant_id: str, as_of: date) -> ObjectStoragePath:
    return payroll_store(payroll_dir) / tenant_id / f"payroll_flags_{as_of.isoformat()}.csv"


def write_payroll_csv(payroll_dir: Any, tenant_id: str, as_of: date, flags: list[Writeback]) -> ObjectStoragePath:
    """The full payroll flag picture for ``as_of`` (sorted, so a rerun writes the same bytes), in the store.

    Written whole under a temporary name and moved into place, so a payroll job never reads half a
    file. Written through :func:`credsync.csv_safe.writer`: an id or flag that starts like a formula
    (``=``, ``+``, ``-``, ``@``, tab, CR) gets a leading ``'`` so a spreadsheet shows it as text, and
    lines end in CRLF (RFC 4180) so a CR or LF inside a cell is quoted instead of splitting the row.
    """
    path = payroll_csv_path(payroll_dir, tenant_id, as_of)
    handle = io.StringIO(newline="")
    writer = csv_safe.writer(handle)
    writer.writerow(PAYROLL_COLUMNS)
    for wb in sorted(flags, key=lambda f: f.key):
        writer.writerow([tenant_id, wb.employee_id, wb.credential_type,
                         "true" if wb.payload["active"] else "false",
                         wb.payload["effective_from"] or "", wb.payload["effective_to"] or "",
                         wb.credential_id])
    write_atomically(path, handle.getvalue().encode("utf-8"))
    return path


def today_utc() -> date:
    return datetime.now(UTC).date()
