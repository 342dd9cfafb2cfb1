"""Daily recertification: expire what ran out, revoke it in the registry, remind before expiry.

Order matters: expire first (one set-based UPDATE, chained into the audit log),
then the registry push enqueues and sends revocations, then the write-back
sends the compensating HRIS profile and payroll flag updates. Every step is
idempotent, so a second run on the same day changes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from credsync.audit import AuditEvent, append_events
from credsync.delivery.config import DeliverySettings
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg


@dataclass
class RecertificationResult:
    tenant_id: str
    expired: int = 0
    reminders: int = 0

    def as_counts(self) -> dict[str, Any]:
        return asdict(self)


def reminder_schedule(settings: DeliverySettings) -> list[tuple[str, int]]:
    """(credential_type, days_before) pairs from credential_rules.csv; ``*`` = the configured default."""
    schedule = [("*", days) for days in settings.default_reminder_days]
    try:
        from credsync.credentials.rules import load_rules

        rules = load_rules()
    except (ImportError, FileNotFoundError):
        rules = []
    for rule in rules:
        schedule.extend((rule.credential_type, days) for days in rule.reminder_days)
    return sorted(set(schedule))


def expire_credentials(conn: psycopg.Connection, tenant_id: str, as_of: date) -> int:
    """Mark active credentials past their expiry date as expired; chains one audit event each."""
    rows = conn.execute(sql_text("delivery/expire_credentials.sql"),
                        {"tenant_id": tenant_id, "as_of": as_of}).fetchall()
    append_events(conn, tenant_id=tenant_id, events=[
        AuditEvent("credential.expired", "credential", credential_id,
                   {"employee_id": employee_id, "credential_type": ctype, "expiry_date": expiry})
        for credential_id, employee_id, ctype, expiry in rows
    ])
    return len(rows)


def record_reminders(conn: psycopg.Connection, tenant_id: str, as_of: date,
                     schedule: list[tuple[str, int]]) -> int:
    """Record the reminders due by ``as_of`` in core.expiry_reminders (each once)."""
    rows = conn.execute(sql_text("delivery/record_reminders.sql"), {
        "tenant_id": tenant_id, "as_of": as_of,
        "types": [t for t, _ in schedule], "days": [d for _, d in schedule],
    }).fetchall()
    append_events(conn, tenant_id=tenant_id, events=[
        AuditEvent("credential.expiry_reminder", "credential", credential_id,
                   {"days_before": days, "remind_on": remind_on})
        for credential_id, days, remind_on in rows
    ])
    return len(rows)


def expire_and_remind(warehouse_url: str, tenant_id: str, as_of: date,
                      settings: DeliverySettings) -> RecertificationResult:
    """The warehouse half of recertification, in one transaction."""
    from credsync.warehouse import connect

    result = RecertificationResult(tenant_id)
    with connect(warehouse_url) as conn:
        result.expired = expire_credentials(conn, tenant_id, as_of)
        result.reminders = record_reminders(conn, tenant_id, as_of, reminder_schedule(settings))
        conn.commit()
    return result
