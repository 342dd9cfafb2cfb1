"""Failure budget per SCIM target: quarantine a tenant whose LMS keeps failing, the others go on.

Anchor: Entra provisioning quarantine (a failure share over a minimum count of operations, retries
escrowed on a back-off). :class:`BudgetedScim` counts the run's SCIM writes and the ones the target
answered with a 5xx or 429 after the client's own retries (a lost answer is looked up and adopted,
never counted: it is not the target refusing). Once ``min_sample`` writes were made and more than
``max_failure_share`` failed, ``provision_tenant`` stops that tenant and :func:`quarantine` records
it in ``core.provisioning_quarantine`` with the next attempt after ``backoff_minutes[strikes - 1]``.

Until then every run skips the tenant (state ``quarantined``, an audit event, an error in the log);
when the back-off elapses one run probes the target: a run within the budget lifts the quarantine,
another trip quarantines it again one back-off step later. A human releases it at once with::

    python -m credsync.people.budget release --url postgresql://… --tenant globex --by alice

or ``scim_provisioning``'s ``release_quarantine`` param (docs/runbook.md). Plain module.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from credsync.hooks.transport import ServiceError

if TYPE_CHECKING:
    import psycopg

    from credsync.hooks.scim import ScimClient
    from credsync.people.guards import FailureBudget

log = logging.getLogger(__name__)
TARGET = "scim"


class BudgetedScim:
    """A :class:`ScimClient` that counts its writes against a :class:`FailureBudget`."""

    def __init__(self, scim: ScimClient, budget: FailureBudget) -> None:
        self._scim = scim
        self.budget = budget
        self.attempts = 0
        self.failures = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._scim, name)

    def _count(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            result = call(*args, **kwargs)
        except ServiceError as exc:
            if exc.status is not None and (exc.status >= 500 or exc.status == 429):
                self.attempts += 1
                self.failures += 1
            raise
        self.attempts += 1
        return result

    def create_user(self, resource: dict[str, Any]) -> dict[str, Any]:
        return self._count(self._scim.create_user, resource)

    def replace_user(self, scim_id: str, resource: dict[str, Any], *, version: str | None) -> dict[str, Any]:
        return self._count(self._scim.replace_user, scim_id, resource, version=version)

    @property
    def exhausted(self) -> bool:
        return (self.attempts >= self.budget.min_sample
                and self.failures / self.attempts > self.budget.max_failure_share)


@dataclass(frozen=True)
class Quarantine:
    tenant_id: str
    quarantined_at: datetime
    next_attempt_at: datetime
    strikes: int
    attempts: int
    failures: int
    reason: str

    def due(self, now: datetime) -> bool:
        """The back-off elapsed: one run may probe the target."""
        return now >= self.next_attempt_at

    def as_dict(self) -> dict[str, Any]:
        return {"quarantined_at": self.quarantined_at.isoformat(), "next_attempt_at": self.next_attempt_at.isoformat(),
                "strikes": self.strikes, "attempts": self.attempts, "failures": self.failures, "reason": self.reason}


def current(conn: psycopg.Connection, tenant_id: str) -> Quarantine | None:
    """The tenant's quarantine in force (not released), or None."""
    row = conn.execute(
        "SELECT quarantined_at, next_attempt_at, strikes, attempts, failures, reason"
        " FROM core.provisioning_quarantine WHERE tenant_id = %s AND target = %s AND released_at IS NULL",
        (tenant_id, TARGET)).fetchone()
    conn.commit()
    return Quarantine(tenant_id, *row) if row else None


def quarantine(conn: psycopg.Connection, *, tenant_id: str, scim: BudgetedScim, now: datetime,
               previous: Quarantine | None, dag_run_id: str | None = None) -> Quarantine:
    """Record a trip (a fresh one, or a probe that failed again: one more back-off step); commits."""
    from credsync.audit import append_event

    strikes = previous.strikes + 1 if previous else 1
    minutes = scim.budget.backoff(strikes)
    next_attempt = now + timedelta(minutes=minutes)
    reason = (f"{scim.failures} of {scim.attempts} SCIM writes failed (> {scim.budget.max_failure_share:.0%} of at "
              f"least {scim.budget.min_sample}); next attempt after {minutes} min")
    conn.execute(
        "INSERT INTO core.provisioning_quarantine (tenant_id, target, quarantined_at, attempts, failures, strikes,"
        " next_attempt_at, reason, dag_run_id)"
        " VALUES (%(t)s, %(target)s, %(now)s, %(a)s, %(f)s, %(s)s, %(next)s, %(r)s, %(run)s)"
        " ON CONFLICT (tenant_id, target) DO UPDATE SET quarantined_at = CASE WHEN"
        " core.provisioning_quarantine.released_at IS NULL THEN core.provisioning_quarantine.quarantined_at"
        " ELSE EXCLUDED.quarantined_at END, attempts = EXCLUDED.attempts, failures = EXCLUDED.failures,"
        " strikes = EXCLUDED.strikes, next_attempt_at = EXCLUDED.next_attempt_at, reason = EXCLUDED.reason,"
        " dag_run_id = EXCLUDED.dag_run_id, released_at = NULL, released_by = NULL",
        {"t": tenant_id, "target": TARGET, "now": now, "a": scim.attempts, "f": scim.failures, "s": strikes,
         "next": next_attempt, "r": reason, "run": dag_run_id})
    append_event(conn, tenant_id=tenant_id, event_type="provisioning.quarantined", entity_type="scim_target",
                 entity_key=tenant_id, detail={"attempts": scim.attempts, "failures": scim.failures,
                                               "strikes": strikes, "next_attempt_at": next_attempt.isoformat()})
    conn.commit()
    log.error("tenant %s: SCIM target quarantined: %s", tenant_id, reason)
    return current(conn, tenant_id)  # type: ignore[return-value]


def lift(conn: psycopg.Connection, *, tenant_id: str, by: str) -> bool:
    """End the tenant's quarantine (a probe within budget, or a human); True if one was in force."""
    from credsync.audit import append_event

    row = conn.execute(
        "UPDATE core.provisioning_quarantine SET released_at = now(), released_by = %s"
        " WHERE tenant_id = %s AND target = %s AND released_at IS NULL RETURNING strikes",
        (by, tenant_id, TARGET)).fetchone()
    if row is not None:
        append_event(conn, tenant_id=tenant_id, event_type="provisioning.quarantine_released",
                     entity_type="scim_target", entity_key=tenant_id, detail={"by": by})
    conn.commit()
    return row is not None


def release(url: str, *, tenant_id: str, by: str) -> bool:
    """The documented release step (CLI and the DAG's ``release_quarantine`` param)."""
    from credsync.warehouse import connect

    with connect(url) as conn:
        released = lift(conn, tenant_id=tenant_id, by=by)
    log.warning("tenant %s: SCIM quarantine %s by %s", tenant_id, "released" if released else "not in force", by)
    return released


def utcnow() -> datetime:
    return datetime.now(UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credsync.people.budget",
                                     description="Show or release a tenant's SCIM quarantine.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("show", "release"):
        command = sub.add_parser(name)
        command.add_argument("--url", required=True, help="warehouse URL (postgresql://…)")
        command.add_argument("--tenant", required=True)
        if name == "release":
            command.add_argument("--by", required=True, help="who releases it (kept in the audit log)")
    args = parser.parse_args(argv)
    if args.command == "release":
        released = release(args.url, tenant_id=args.tenant, by=args.by)
        print(f"{args.tenant}: {'released' if released else 'no quarantine in force'}")
        return 0
    from credsync.warehouse import connect

    with connect(args.url) as conn:
        state = current(conn, args.tenant)
    print(f"{args.tenant}: {state.as_dict() if state else 'not quarantined'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
