"""Reconciliation with the marketplace, its schedule, the seed's metrics per day and their 7-day gate.

- **When** (:func:`due`): ``initial`` right after the initial sync completed, ``followup_24h`` once
  24 h after it, then ``daily`` (one per UTC day).
- **Compare** the marketplace's listings (members, learning records, badges; cursor pages) with what
  credsync holds it should have: core.marketplace_members and the acknowledged items of
  core.marketplace_events (bulk and events). Per kind: missing, mismatched (a member's email; a
  record's completion time), unexpected. ``drift_share`` = (missing + mismatched + unexpected) / expected.
- **Auto-correct where safe**: a member missing or held differently is PUT again (a key of its own
  per run and content, so the marketplace applies it instead of replaying the first answer).
  Missing learning records and badges, and anything unexpected, are **flagged**: dead-lettered
  (source ``marketplace``, reasons ``recon_*``) with the example, for the product owners to review.
- **Metrics** (recon.marketplace_daily): the day's drift (its last reconciliation) and event delivery
  success (events created that day, the initial sync's bulk items aside: acknowledged / all).
- **Gate** (:func:`window_gate`): over the 7 days ending today, every day's drift < 1 % and the
  window's delivery success > 99 %.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from credsync.marketplace import ledger

if TYPE_CHECKING:
    import psycopg

    from credsync.hooks.marketplace import MarketplaceClient

MAX_DRIFT = 0.01
MIN_DELIVERY = 0.99
WINDOW_DAYS = 7
EXAMPLES = 20


class MarketplaceGateFailed(RuntimeError):
    """The 7-day window breached drift < 1 % or delivery > 99 %; the message names the days."""


@dataclass
class Comparison:
    kind: str
    expected: int = 0
    found: int = 0
    missing: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)

    @property
    def drift(self) -> int:
        return len(self.missing) + len(self.mismatched) + len(self.unexpected)

    def summary(self) -> dict[str, Any]:
        return {"expected": self.expected, "found": self.found, "missing": len(self.missing),
                "mismatched": len(self.mismatched), "unexpected": len(self.unexpected),
                "examples": {"missing": self.missing[:EXAMPLES], "mismatched": self.mismatched[:EXAMPLES],
                             "unexpected": self.unexpected[:EXAMPLES]}}


@dataclass
class ReconResult:
    tenant_id: str
    kind: str
    day: str
    expected: int = 0
    found: int = 0
    missing: int = 0
    mismatched: int = 0
    unexpected: int = 0
    corrected: int = 0
    flagged: int = 0
    drift_share: float = 0.0
    delivery_success: float = 1.0

    def as_counts(self) -> dict[str, Any]:
        return asdict(self)


def due(conn: psycopg.Connection, tenant_id: str, now: datetime) -> list[str]:
    """The reconciliations due at ``now``: none before the initial sync completed."""
    row = conn.execute("SELECT completed_at FROM core.marketplace_syncs WHERE tenant_id = %s AND status = 'completed'",
                       (tenant_id,)).fetchone()
    if row is None:
        return []
    kinds = {k: d for k, d in conn.execute("SELECT kind, max(day) FROM recon.marketplace_runs WHERE tenant_id = %s"
                                           " GROUP BY kind", (tenant_id,)).fetchall()}
    if "initial" not in kinds:
        return ["initial"]
    if "followup_24h" not in kinds:
        return ["followup_24h"] if now >= row[0] + timedelta(hours=24) else []
    last = max(kinds.values())
    return ["daily"] if last < now.date() else []


def compare(kind: str, expected: dict[str, Any], found: Iterable[tuple[str, Any]]) -> Comparison:
    """``expected`` / ``found``: key -> the value compared (None: presence only)."""
    result = Comparison(kind, expected=len(expected))
    seen: set[str] = set()
    for key, value in found:
        if key in seen:
            continue
        seen.add(key)
        result.found += 1
        if key not in expected:
            result.unexpected.append(key)
        elif expected[key] is not None and value != expected[key]:
            result.mismatched.append(key)
    result.missing = sorted(set(expected) - seen)
    return result


def reconcile(warehouse_url: str, tenant_id: str, kind: str, client: MarketplaceClient,
              members_client: MarketplaceClient | None, *, now: datetime) -> ReconResult:
    """Compare, correct what is safe, flag the rest, record the run and the day's metrics."""
    from credsync.marketplace.events import put_member
    from credsync.marketplace.mapping import content_hash
    from credsync.warehouse import connect

    day = now.date()
    result = ReconResult(tenant_id, kind, day.isoformat())
    with connect(warehouse_url) as conn:
        ledger.lock(conn, tenant_id)
        held = {m: (e, r) for m, e, r in conn.execute(
            "SELECT member_id, employee_id, record FROM core.marketplace_members WHERE tenant_id = %s", (tenant_id,))}
        items = conn.execute("SELECT event_type, member_id, item_key, body FROM core.marketplace_events"
                             " WHERE tenant_id = %s AND state = 'acknowledged'", (tenant_id,)).fetchall()
        conn.commit()
        members = compare("members", {m: r.get("email") for m, (_, r) in held.items()},
                          ((str(m.get("member_id")), m.get("email")) for m in client.members()))
        learning = compare("learning_records",
                           {f"{m}/{k}": _instant((b.get("data") or {}).get("completed_at")) for t, m, k, b in items
                            if t == "learning_completed"},
                           ((f"{r.get('member_id')}/{r.get('course_id')}", _instant(r.get("completed_at")))
                            for r in client.learning_records() if r.get("completed") is True))
        badges = compare("badges", {f"{m}/{k}": None for t, m, k, _ in items if t == "badge_awarded"},
                         ((f"{b.get('member_id')}/{b.get('badge_id')}", None) for b in client.badges()))
        parts = (members, learning, badges)
        result.expected = sum(p.expected for p in parts)
        result.found = sum(p.found for p in parts)
        result.missing = sum(len(p.missing) for p in parts)
        result.mismatched = sum(len(p.mismatched) for p in parts)
        result.unexpected = sum(len(p.unexpected) for p in parts)
        result.drift_share = round(sum(p.drift for p in parts) / max(result.expected, 1), 6)
        for member_id in members.missing + members.mismatched:
            employee_id, record = held[member_id]
            if members_client is not None and put_member(conn, tenant_id, members_client, record,
                                                         content_hash(record), employee_id,
                                                         salt=f"recon:{kind}:{day}"):
                result.corrected += 1
            conn.commit()
        for part, reason in ((learning, "recon_missing_learning_record"), (badges, "recon_missing_badge")):
            for key in part.missing:
                result.flagged += _flag(conn, tenant_id, key, reason, part, day)
        for part in parts:
            for key in part.unexpected:
                result.flagged += _flag(conn, tenant_id, key, f"recon_unexpected_{part.kind}", part, day)
        for key in learning.mismatched:
            result.flagged += _flag(conn, tenant_id, key, "recon_mismatched_learning_record", learning, day)
        conn.execute(
            "INSERT INTO recon.marketplace_runs (tenant_id, kind, day, run_at, expected, found, missing, mismatched,"
            " unexpected, corrected, flagged, drift_share, detail) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
            (tenant_id, kind, day, now, result.expected, result.found, result.missing, result.mismatched,
             result.unexpected, result.corrected, result.flagged, result.drift_share,
             Jsonb({p.kind: p.summary() for p in parts})))
        result.delivery_success = record_day(conn, tenant_id, day, result.drift_share)
        ledger.audit_tokens(conn, tenant_id, "reconcile", client, *([members_client] if members_client else []))
        conn.commit()
    return result


def _instant(value: Any) -> Any:
    """A timestamp as an instant: ``...Z`` and ``...+00:00`` are the same time."""
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return value


def _flag(conn: psycopg.Connection, tenant_id: str, key: str, reason: str, part: Comparison, day: date) -> int:
    ledger.dead_letter_refusal(conn, tenant_id, f"{part.kind}:{key}", reason,
                               {"day": day.isoformat(), "kind": part.kind, "key": key}, None)
    return 1


def record_day(conn: psycopg.Connection, tenant_id: str, day: date, drift_share: float) -> float:
    """Upsert the day's metrics; returns the day's delivery success."""
    total, acked, dead = conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE state = 'acknowledged'), count(*) FILTER (WHERE state = 'dead')"
        " FROM core.marketplace_events WHERE tenant_id = %s AND outcome IS DISTINCT FROM 'bulk'"
        " AND created_at::date = %s", (tenant_id, day)).fetchone()
    success = 1.0 if total == 0 else acked / total
    conn.execute(
        "INSERT INTO recon.marketplace_daily (tenant_id, day, drift_share, events_total, events_acknowledged,"
        " events_dead, delivery_success) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (tenant_id, day) DO UPDATE"
        " SET drift_share = EXCLUDED.drift_share, events_total = EXCLUDED.events_total,"
        " events_acknowledged = EXCLUDED.events_acknowledged, events_dead = EXCLUDED.events_dead,"
        " delivery_success = EXCLUDED.delivery_success, updated_at = now()",
        (tenant_id, day, drift_share, total, acked, dead, round(success, 6)))
    return success


@dataclass(frozen=True)
class WindowVerdict:
    tenant_id: str
    day: str
    days: int
    max_drift_share: float
    delivery_success: float
    passed: bool
    breaches: list[str]

    def as_counts(self) -> dict[str, Any]:
        return asdict(self)


def window_gate(conn: psycopg.Connection, tenant_id: str, day: date) -> WindowVerdict:
    rows = conn.execute("SELECT day, drift_share, events_total, events_acknowledged FROM recon.marketplace_daily"
                        " WHERE tenant_id = %s AND day > %s AND day <= %s ORDER BY day",
                        (tenant_id, day - timedelta(days=WINDOW_DAYS), day)).fetchall()
    breaches = [f"{d}: drift {float(s):.2%} (limit < {MAX_DRIFT:.0%})" for d, s, _, _ in rows if float(s) >= MAX_DRIFT]
    total = sum(r[2] for r in rows)
    success = 1.0 if total == 0 else sum(r[3] for r in rows) / total
    if success <= MIN_DELIVERY:
        breaches.append(f"delivery success {success:.2%} over {len(rows)} day(s) (limit > {MIN_DELIVERY:.0%})")
    return WindowVerdict(tenant_id, day.isoformat(), len(rows), max((float(r[1]) for r in rows), default=0.0),
                         round(success, 6), not breaches, breaches)
