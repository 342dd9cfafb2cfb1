"""A warehouse with a week of believable on-call data, every number known in advance.

Tenant ``acme``, the seven days ending yesterday (UTC; so every time is in the past):

- registry: 10 credentials issued per day at 08:00, each acknowledged 20, 24, …, 56 minutes after
  its completion (p50 38 min, p95 54.2 min); on day index 3, two of the ten are dead letters instead
  (80 % that day, 100 % the others). Plus, on the last day, 3 credentials of completions 400 days old (history
  loaded at a first sync): acknowledged, but not a latency.
- HRIS profile write-backs: one per acknowledged credential, 30 minutes after the acknowledgement.
- reconciliation: one run per day, comparison ``hris_lms`` drifting 0.5 % … 3.5 % (1000 compared),
  ``credentials_registry`` 0 %; the last run's gate failed.
- open findings: 3 ``registry_missing``, 2 ``lms_user_inactive``; 2 open registry dead letters.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

TENANT = "acme"
DAYS = 7
PER_DAY = 10
DEAD_DAY = 3
HISTORY = 3
LATENCY_MINUTES = [20 + 4 * i for i in range(PER_DAY)]


@dataclass(frozen=True)
class Seeded:
    first_day: datetime
    days: list[datetime]


def day_start(offset: int) -> datetime:
    today = datetime.now(UTC).date()
    return datetime.combine(today - timedelta(days=DAYS - offset), time(0), tzinfo=UTC)


def _credential(conn, *, employee: str, completed: datetime, created: datetime, kind: str) -> uuid.UUID:
    credential_id = uuid.uuid4()
    conn.execute(
        "INSERT INTO core.credentials (credential_id, tenant_id, employee_id, credential_type, issuer, rule_version,"
        " issue_date, status, evidence, created_at) VALUES (%s, %s, %s, %s, 'did:web:issuer.example', 'v1', %s,"
        " 'active', %s, %s)",
        (credential_id, TENANT, employee, kind, completed.date(),
         json.dumps({"met_at": completed.isoformat()}), created))
    return credential_id


def seed_deliveries(conn) -> None:
    """Registry submissions and write-backs of the week (see the module doc)."""
    for offset in range(DAYS):
        start = day_start(offset)
        for i, minutes in enumerate(LATENCY_MINUTES):
            completed = start + timedelta(hours=8)
            employee = f"E{offset:02d}{i:03d}"
            credential = _credential(conn, employee=employee, completed=completed,
                                     created=completed + timedelta(minutes=5), kind="FORKLIFT")
            dead = offset == DEAD_DAY and i >= PER_DAY - 2
            acknowledged = completed + timedelta(minutes=minutes)
            conn.execute(
                "INSERT INTO core.registry_submissions (tenant_id, credential_id, version, operation, idempotency_key,"
                " state, attempts, created_at, sent_at, acknowledged_at) VALUES (%s, %s, 1, 'issue', %s, %s, 1, %s,"
                " %s, %s)",
                (TENANT, credential, f"cs-{credential}-v1-issue", "dead" if dead else "acknowledged",
                 completed + timedelta(minutes=6), acknowledged, None if dead else acknowledged))
            if not dead:
                conn.execute(
                    "INSERT INTO core.writebacks (tenant_id, employee_id, target, credential_type, credential_id,"
                    " status, payload_hash, state, attempts, delivered_at, updated_at) VALUES (%s, %s, 'hris_profile',"
                    " 'FORKLIFT', %s, 'active', %s, 'delivered', 1, %s, %s)",
                    (TENANT, employee, credential, f"h-{credential}", acknowledged + timedelta(minutes=30),
                     acknowledged + timedelta(minutes=30)))
    today = day_start(DAYS - 1)  # the last seeded day
    for i in range(HISTORY):
        completed = today - timedelta(days=400)
        credential = _credential(conn, employee=f"H{i:03d}", completed=completed,
                                 created=today + timedelta(hours=7), kind="SAFETY")
        conn.execute(
            "INSERT INTO core.registry_submissions (tenant_id, credential_id, version, operation, idempotency_key,"
            " state, attempts, created_at, sent_at, acknowledged_at) VALUES (%s, %s, 1, 'issue', %s, 'acknowledged',"
            " 1, %s, %s, %s)",
            (TENANT, credential, f"cs-{credential}-v1-issue", today + timedelta(hours=7),
             today + timedelta(hours=7, minutes=1), today + timedelta(hours=7, minutes=2)))


def drift_rate(offset: int) -> float:
    return round(0.005 * (offset + 1), 4)


def seed_reconciliation(conn) -> None:
    last_run = None
    for offset in range(DAYS):
        run_id = uuid.uuid4()
        failed = offset == DAYS - 1
        conn.execute(
            "INSERT INTO recon.runs (run_id, tenant_id, as_of, status, max_drift_rate, gate_success, gate_summary)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (run_id, TENANT, day_start(offset) + timedelta(hours=5), "failed" if failed else "passed",
             drift_rate(offset), not failed, "hris_lms drift 3.5% > 1%" if failed else None))
        for comparison, rate in (("hris_lms", drift_rate(offset)), ("credentials_registry", 0.0)):
            conn.execute(
                "INSERT INTO recon.run_comparisons (run_id, tenant_id, comparison, population, drifted, drift_rate)"
                " VALUES (%s, %s, %s, 1000, %s, %s)", (run_id, TENANT, comparison, round(rate * 1000), rate))
        last_run = run_id
    seen = day_start(DAYS - 1) + timedelta(hours=5)
    for kind, comparison, count in (("registry_missing", "credentials_registry", 3),
                                    ("lms_user_inactive", "hris_lms", 2)):
        for i in range(count):
            conn.execute(
                "INSERT INTO recon.findings (tenant_id, comparison, finding_type, severity, entity_key, employee_id,"
                " left_system, left_value, right_system, right_value, first_seen, last_seen, first_run_id,"
                " last_run_id, action, owner) VALUES (%s, %s, %s, 'high', %s, %s, 'core', 'active', 'other',"
                " 'missing', %s, %s, %s, %s, 'queued_fix', 'data-platform')",
                (TENANT, comparison, kind, f"{kind}-{i}", f"E06{i:03d}", seen, seen, last_run, last_run))
    for i in range(2):
        conn.execute(
            "INSERT INTO audit.dead_letters (tenant_id, source, entity_key, reason, detail) VALUES"
            " (%s, 'registry', %s, 'registry_rejected_422', '{}')", (TENANT, f"credential-{i}"))


#: The talent marketplace on the last seeded day: events acknowledged / dead, and the day's two
#: reconciliation runs (the dashboards show the later one).
MARKETPLACE_EVENTS = (9, 1)
MARKETPLACE_RUNS = ((200, 6), (200, 3))  # (expected, missing) of the earlier, then the later run


def seed_marketplace(conn) -> None:
    day = day_start(DAYS - 1)
    acknowledged, dead = MARKETPLACE_EVENTS
    for i in range(acknowledged + dead):
        ok = i < acknowledged
        conn.execute(
            "INSERT INTO core.marketplace_events (tenant_id, event_id, event_type, member_id, item_key, body, state,"
            " created_at, sent_at, acknowledged_at) VALUES (%s, %s, 'learning_completed', %s, 'C1', '{}', %s,"
            " %s, %s, %s)",
            (TENANT, uuid.uuid4(), f"E07{i:03d}", "acknowledged" if ok else "dead", day + timedelta(hours=3),
             day + timedelta(hours=3), day + timedelta(hours=3, minutes=1) if ok else None))
    for hour, (expected, missing) in enumerate(MARKETPLACE_RUNS):
        conn.execute(
            "INSERT INTO recon.marketplace_runs (tenant_id, kind, day, run_at, expected, found, missing, mismatched,"
            " unexpected, drift_share, detail) VALUES (%s, 'daily', %s, %s, %s, %s, %s, 0, 0, %s, '{}')",
            (TENANT, day.date(), day + timedelta(hours=4 + hour), expected, expected - missing, missing,
             missing / expected))


def seed(conn) -> None:
    seed_deliveries(conn)
    seed_reconciliation(conn)
    seed_marketplace(conn)
    conn.commit()
