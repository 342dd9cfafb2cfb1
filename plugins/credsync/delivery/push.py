"""Push one tenant's registry submissions: enqueue, then send in mapped batches.

Crash safety: a chunk is marked 'sent' and committed before its request
leaves, and its outcomes are committed after the answer. A task killed in
between leaves 'sent' rows that the next run re-sends under the same
idempotency keys; the registry replays its stored answers (or answers 409 with
the existing id), so the end state is the same as an uninterrupted run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from credsync.audit import append_event
from credsync.delivery import submissions as subs
from credsync.delivery.config import RegistrySettings, load_delivery_settings
from credsync.delivery.payload import MappingError, build_certificate, registry_mapping
from credsync.hooks.transport import Attempt
from credsync.hooks.transport import Rejected as RegistryRejected
from credsync.hooks.transport import ServiceUnavailable as RegistryUnavailable

if TYPE_CHECKING:
    import psycopg

    from credsync.hooks.registry import ItemOutcome, RegistryClient

# Called after a chunk's request returned and before its outcome is recorded: the
# worst moment for a crash. Tests raise from it to prove reruns converge.
FaultHook = Callable[[str, int], None]
# Session advisory lock class ("push"): one push per tenant at a time, whichever DAG runs it
# (registry_push, recertification, dlq_replay); the second waits, then finds nothing left to do.
_PUSH_LOCK_CLASS = 0x70757368
_ITEM_OUTCOMES = {201: "created", 200: "replayed", 409: "duplicate"}


@dataclass
class PushResult:
    """Counts of one push run (what the DAG returns to XCom)."""

    tenant_id: str
    enqueued: int = 0
    sent: int = 0
    acknowledged: int = 0
    dead: int = 0
    remaining: int = 0
    requests: int = 0

    def as_counts(self) -> dict[str, Any]:
        return asdict(self)


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def push_submissions(
    warehouse_url: str,
    tenant_id: str,
    client: RegistryClient,
    *,
    settings: RegistrySettings | None = None,
    operations: Sequence[str] = ("issue", "revoke"),
    deadline: float | None = None,
    fault_hook: FaultHook | None = None,
) -> PushResult:
    """Enqueue and push ``tenant_id``'s submissions; returns counts.

    ``deadline`` (a ``time.monotonic()`` value) stops starting new chunks, so a
    run can end cleanly before a task timeout. Raises RegistryUnavailable
    (after recording progress) when the registry stays unavailable past the
    retry budget, so the task fails and Airflow retries it later.
    """
    from credsync.warehouse import connect

    settings = settings or load_delivery_settings().registry
    result = PushResult(tenant_id)
    with connect(warehouse_url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_PUSH_LOCK_CLASS, tenant_id))
        conn.commit()
        result.enqueued = subs.enqueue(conn, tenant_id, operations)
        conn.commit()
        work = subs.open_submissions(conn, tenant_id, operations)
        conn.commit()
        pusher = _Pusher(conn, tenant_id, client, settings, result, fault_hook)
        issues = [w.idempotency_key for w in work if w.operation == "issue"]
        revokes = [w.idempotency_key for w in work if w.operation == "revoke"]
        for chunk in _chunks(issues, settings.batch_size):
            if deadline is not None and time.monotonic() >= deadline:
                break
            pusher.issue_chunk(chunk)
        for chunk in _chunks(revokes, settings.batch_size):
            if deadline is not None and time.monotonic() >= deadline:
                break
            pusher.revoke_chunk(chunk)
        result.remaining = len(subs.open_submissions(conn, tenant_id, operations))
        conn.commit()
    return result


class _Pusher:
    """The per-chunk steps of one push run, sharing a connection and the running counts."""

    def __init__(self, conn: psycopg.Connection, tenant_id: str, client: RegistryClient,
                 settings: RegistrySettings, result: PushResult, fault_hook: FaultHook | None) -> None:
        self.conn = conn
        self.tenant_id = tenant_id
        self.client = client
        self.settings = settings
        self.result = result
        self.fault_hook = fault_hook
        self.mapping = registry_mapping(settings.mapping)

    # -- issues ---------------------------------------------------------------------

    def issue_chunk(self, keys: list[str]) -> None:
        rows = subs.sources(self.conn, "delivery/issue_sources.sql", self.tenant_id, keys)
        ready: list[tuple[dict[str, Any], dict[str, Any]]] = []
        failures = []
        for row in rows:
            key = row["idempotency_key"]
            ref = {"idempotency_key": key, "credential_id": str(row["credential_id"]), "operation": "issue"}
            if row["attempts"] >= self.settings.max_total_attempts:
                failures.append((key, None, "retries_exhausted",
                                 {"attempts": row["attempts"]}, ref))
                continue
            try:
                certificate = build_certificate(row, self.mapping, record_key=key)
            except MappingError as exc:
                failures.append((key, None, "mapping_invalid", {"error": str(exc), "field": exc.field}, ref))
                continue
            ready.append((row, certificate))
        self.result.dead += subs.kill(self.conn, self.tenant_id, failures)
        ready_keys = [row["idempotency_key"] for row, _ in ready]
        subs.mark_sent(self.conn, self.tenant_id, ready_keys)
        self.conn.commit()
        if not ready:
            return
        self.result.sent += len(ready)
        items = [(row["idempotency_key"], cert) for row, cert in ready]
        credential_of = {row["idempotency_key"]: str(row["credential_id"]) for row, _ in ready}
        attempt_rows: list[subs.AttemptRow] = []
        try:
            outcomes = self._send_issues(items, credential_of, attempt_rows)
        except RegistryUnavailable as exc:
            self._note(attempt_rows, exc.attempts, credential_of, ready_keys, "issue")
            self._record_unavailable(ready_keys, exc, attempt_rows)
            raise
        if self.fault_hook:
            self.fault_hook("after_send", self.result.sent)
        certificates = dict(items)
        self._apply(outcomes, certificates, credential_of, "issue", attempt_rows)

    def _send_issues(self, items: list[tuple[str, dict[str, Any]]], credential_of: dict[str, str],
                     attempt_rows: list[subs.AttemptRow]) -> list[ItemOutcome]:
        try:
            outcomes, attempts = self.client.create_batch(items)
        except RegistryRejected as exc:
            # The registry refuses a whole batch when one item breaks the schema; sending the
            # items one by one isolates that item and still registers the others.
            self._note(attempt_rows, exc.attempts, credential_of, [k for k, _ in items], "issue")
            outcomes = []
            for key, certificate in items:
                outcome, single = self.client.create(key, certificate)
                self._note(attempt_rows, single, credential_of, [key], "issue", {key: outcome})
                outcomes.append(outcome)
            return outcomes
        self._note(attempt_rows, attempts, credential_of, [k for k, _ in items], "issue",
                   {o.idempotency_key: o for o in outcomes})
        return outcomes

    # -- revocations ----------------------------------------------------------------

    def revoke_chunk(self, keys: list[str]) -> None:
        rows = subs.sources(self.conn, "delivery/revoke_sources.sql", self.tenant_id, keys)
        ready, failures = [], []
        for row in rows:
            key = row["idempotency_key"]
            ref = {"idempotency_key": key, "credential_id": str(row["credential_id"]), "operation": "revoke"}
            if row["issue_state"] in (None, "dead") or (
                    row["issue_state"] == "acknowledged" and not row["registry_id"]):
                failures.append((key, None, "not_registered",
                                 {"issue_state": row["issue_state"]}, ref))
            elif row["issue_state"] == "acknowledged":
                ready.append(row)
            # An issue still pending/sent is pushed first; its revocation waits for the next run.
        self.result.dead += subs.kill(self.conn, self.tenant_id, failures)
        ready_keys = [row["idempotency_key"] for row in ready]
        subs.mark_sent(self.conn, self.tenant_id, ready_keys)
        self.conn.commit()
        if not ready:
            return
        self.result.sent += len(ready)
        credential_of = {row["idempotency_key"]: str(row["credential_id"]) for row in ready}
        attempt_rows: list[subs.AttemptRow] = []
        outcomes: list[ItemOutcome] = []
        try:
            for row in ready:
                outcome, attempts = self.client.revoke(row["idempotency_key"], row["registry_id"], row["reason"])
                self._note(attempt_rows, attempts, credential_of, [row["idempotency_key"]], "revoke",
                           {row["idempotency_key"]: outcome})
                outcomes.append(outcome)
        except RegistryUnavailable as exc:
            # Outcomes already received are kept; only the rest stays 'sent'.
            done = {o.idempotency_key for o in outcomes}
            pending = [k for k in ready_keys if k not in done]
            self._note(attempt_rows, exc.attempts, credential_of, pending[:1], "revoke")
            self._apply(outcomes, {}, credential_of, "revoke", [])
            self._record_unavailable(pending, exc, attempt_rows)
            raise
        if self.fault_hook:
            self.fault_hook("after_send", self.result.sent)
        self._apply(outcomes, {}, credential_of, "revoke", attempt_rows)

    # -- recording ------------------------------------------------------------------

    def _apply(self, outcomes: list[ItemOutcome], certificates: dict[str, dict[str, Any]],
               credential_of: dict[str, str], operation: str, attempt_rows: list[subs.AttemptRow]) -> None:
        accepted = [o for o in outcomes if o.accepted]
        rejected = [
            (o.idempotency_key, o.status, f"registry_rejected_{o.status}", o.problem or {},
             {"idempotency_key": o.idempotency_key, "credential_id": credential_of[o.idempotency_key],
              "operation": operation, "registry_id": o.registry_id,
              "certificate": certificates.get(o.idempotency_key)})
            for o in outcomes if not o.accepted
        ]
        self.result.acknowledged += subs.acknowledge(self.conn, self.tenant_id, accepted)
        self.result.dead += subs.kill(self.conn, self.tenant_id, rejected)
        subs.record_attempts(self.conn, self.tenant_id, attempt_rows)
        if outcomes:
            append_event(self.conn, tenant_id=self.tenant_id, event_type=f"registry.push.{operation}",
                         entity_type="registry_batch", entity_key=outcomes[0].idempotency_key,
                         detail={"items": len(outcomes), "accepted": len(accepted), "rejected": len(rejected),
                                 "requests": len({r.attempt.request_id for r in attempt_rows})})
        self.conn.commit()

    def _record_unavailable(self, keys: list[str], exc: RegistryUnavailable,
                            attempt_rows: list[subs.AttemptRow]) -> None:
        last = exc.attempts[-1] if exc.attempts else None
        subs.record_transient(self.conn, self.tenant_id, keys, last.status if last else None, str(exc))
        subs.record_attempts(self.conn, self.tenant_id, attempt_rows)
        self.conn.commit()

    def _note(self, rows: list[subs.AttemptRow], attempts: list[Attempt], credential_of: dict[str, str],
              keys: list[str], operation: str, final: dict[str, ItemOutcome] | None = None) -> None:
        """One attempt row per item per exchange; the last exchange carries each item's own status."""
        self.result.requests += len(attempts)
        for index, attempt in enumerate(attempts):
            last = index == len(attempts) - 1
            for key in keys:
                outcome = (final or {}).get(key) if last else None
                rows.append(subs.AttemptRow(
                    credential_id=credential_of[key], idempotency_key=key, operation=operation, attempt=attempt,
                    item_status=outcome.status if outcome else None,
                    item_outcome=(_ITEM_OUTCOMES.get(outcome.status, "rejected") if operation == "issue"
                                  else ("revoked" if outcome.accepted else "rejected")) if outcome else None,
                ))
