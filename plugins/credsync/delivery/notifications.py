"""Registry notifications out: a signed ``credential.issued`` / ``credential.revoked`` event per write.

Plain code (no Airflow at import). The registry learns of each certificate write twice: by the
push itself (:mod:`credsync.delivery.push`) and by this notification, which its review queue
and downstream subscribers consume. One notification per registry submission the registry
acknowledged, on the delivery ledger's terms:

- **Key**: the submission's idempotency key; the event id is ``<key>-notify`` and goes out as
  the ``Idempotency-Key`` too, so a re-send after a lost answer is the same notification and the
  registry (which dedupes by event id) keeps it once.
- **State**: ``core.registry_notifications`` moves pending → sent → acknowledged | dead, forward
  only, with the submissions' ranks (migration 0024). Marked sent and committed before the
  request leaves; a killed task leaves 'sent', which the next run sends again under the same id.
- **Attempts**: every HTTP exchange lands in ``core.registry_attempts`` (operation
  ``notify_issue`` / ``notify_revoke``) through :func:`credsync.delivery.submissions.record_attempts`.
- **Refusals**: a final 4xx (other than 401/403, which is the connection's fault and fails the
  task) or too many attempts dead-letters the notification (``audit.dead_letters`` source
  ``registry_notification``, reason ``registry_refused_<status>`` with the registry's answer).
- **Gate**: before a run sends anything its batch is staged in ``staging.registry_notifications``
  and validated by the GX suite ``registry_notifications``; a blocked batch sends nothing.

The wire format (docs/registry.md "Registry notifications"): ``POST <registry>/v1/notifications``
with the registry's OAuth2 bearer token (the push's client), body
``{event_id, type, tenant_id, certificate_id, occurred_at}`` (compact JSON, no personal data)
and ``X-Credsync-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`` with the
secret from the registry Connection's extra ``notification_secret``
(:mod:`credsync.ingest.signed_webhooks`, the scheme of every credsync webhook).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from credsync.audit import append_event, dead_letter
from credsync.delivery import submissions as subs
from credsync.hooks.notifications import NotificationClient
from credsync.hooks.transport import AccessDenied, Attempt, ServiceUnavailable
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

    from credsync.delivery.config import RegistrySettings

DEAD_LETTER_SOURCE = "registry_notification"
SUITE_NAME = "registry_notifications"
STAGING_TABLE = "staging.registry_notifications"
EVENT_TYPES = {"issue": "credential.issued", "revoke": "credential.revoked"}
OPERATIONS = {"credential.issued": "notify_issue", "credential.revoked": "notify_revoke"}
# Session advisory lock class ("ntfy"): one notification run per tenant at a time.
_LOCK_CLASS = 0x6E746679
# Called after a notification's answer came back and before it is recorded (tests crash here).
FaultHook = Callable[[str, int], None]


class NotificationBatchBlocked(RuntimeError):
    """The GX gate refused the outgoing batch; nothing was sent. The message is the gate's verdict."""


@dataclass
class NotificationResult:
    """Counts of one notification run (what the task returns to XCom)."""

    tenant_id: str
    enqueued: int = 0
    sent: int = 0
    delivered: int = 0
    dead: int = 0
    remaining: int = 0
    requests: int = 0
    gate: str = ""

    def as_counts(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Notification:
    event_id: str
    idempotency_key: str
    credential_id: str
    event_type: str
    body: bytes
    attempts: int


def notification_body(row: dict[str, Any]) -> bytes:
    """The exact bytes signed and sent: compact, sorted JSON, the same on every re-send."""
    body = {"event_id": row["event_id"], "type": row["event_type"], "tenant_id": row["tenant_id"],
            "certificate_id": row["registry_id"], "occurred_at": row["occurred_at"].isoformat()}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def send_notifications(
    warehouse_url: str,
    tenant_id: str,
    client: NotificationClient,
    *,
    settings: RegistrySettings | None = None,
    gate: Callable[[str, str, str], Any] | None = None,
    deadline: float | None = None,
    fault_hook: FaultHook | None = None,
) -> NotificationResult:
    """Enqueue, gate and send ``tenant_id``'s open notifications; returns counts.

    ``gate(warehouse_url, tenant_id, batch_id)`` validates the staged batch (default: the GX
    suite ``registry_notifications``). Raises :class:`NotificationBatchBlocked` when it fails
    and ServiceUnavailable (after recording progress) when the registry stays unavailable.
    """
    from credsync.delivery.config import load_delivery_settings
    from credsync.warehouse import connect

    settings = settings or load_delivery_settings().registry
    result = NotificationResult(tenant_id)
    with connect(warehouse_url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_LOCK_CLASS, tenant_id))
        conn.commit()
        result.enqueued = conn.execute(sql_text("delivery/notifications/enqueue.sql"),
                                       {"tenant_id": tenant_id}).rowcount
        conn.commit()
        work = _open(conn, tenant_id)
        if not work:
            return result
        batch_id = str(uuid.uuid4())
        _stage(conn, tenant_id, batch_id, work)
        conn.commit()
        verdict = (gate or gate_batch)(warehouse_url, tenant_id, batch_id)
        result.gate = getattr(verdict, "summary", str(verdict)).splitlines()[0]
        if not getattr(verdict, "success", bool(verdict)):
            append_event(conn, tenant_id=tenant_id, event_type="registry.notifications.blocked",
                         entity_type="notification_batch", entity_key=batch_id,
                         detail={"notifications": len(work), "verdict": result.gate})
            conn.commit()
            raise NotificationBatchBlocked(getattr(verdict, "summary", str(verdict)))
        for notification in work:
            if deadline is not None and time.monotonic() >= deadline:
                break
            _send_one(conn, tenant_id, client, settings, notification, result, fault_hook)
        result.remaining = len(_open(conn, tenant_id))
        conn.commit()
    return result


def gate_batch(warehouse_url: str, tenant_id: str, batch_id: str) -> Any:
    """The GX gate on one staged outgoing batch (committed suite ``registry_notifications``)."""
    from credsync.quality.gate import run_gate

    return run_gate(warehouse_url, suite_name=SUITE_NAME, table=STAGING_TABLE, batch_id=batch_id,
                    tenant_id=tenant_id, key_columns=("event_id",))


def _open(conn: psycopg.Connection, tenant_id: str) -> list[Notification]:
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql_text("delivery/notifications/open.sql"), {"tenant_id": tenant_id}).fetchall()
    return [Notification(r["event_id"], r["idempotency_key"], str(r["credential_id"]), r["event_type"],
                         notification_body(r), r["attempts"]) for r in rows]


def _stage(conn: psycopg.Connection, tenant_id: str, batch_id: str, work: list[Notification]) -> None:
    rows = [json.loads(n.body) for n in work]
    conn.execute(sql_text("delivery/notifications/stage.sql"), {
        "tenant_id": tenant_id, "batch_id": batch_id,
        "event_ids": [r["event_id"] for r in rows], "event_types": [r["type"] for r in rows],
        "registry_ids": [r["certificate_id"] for r in rows], "occurred": [r["occurred_at"] for r in rows],
        "sizes": [len(n.body) for n in work]})


def _send_one(conn: psycopg.Connection, tenant_id: str, client: NotificationClient, settings: RegistrySettings,
              notification: Notification, result: NotificationResult, fault_hook: FaultHook | None) -> None:
    if notification.attempts >= settings.max_total_attempts:
        result.dead += _kill(conn, tenant_id, notification, None, "retries_exhausted",
                             {"attempts": notification.attempts})
        conn.commit()
        return
    conn.execute(sql_text("delivery/notifications/mark_sent.sql"),
                 {"tenant_id": tenant_id, "event_id": notification.event_id})
    conn.commit()  # before the request leaves: a crash after it re-sends under the same event id
    result.sent += 1
    try:
        answer = client.send(notification.event_id, notification.body)
    except ServiceUnavailable as exc:
        result.requests += len(exc.attempts)
        _record_attempts(conn, tenant_id, notification, exc.attempts, None)
        conn.execute(sql_text("delivery/notifications/record_transient.sql"),
                     {"tenant_id": tenant_id, "event_id": notification.event_id,
                      "status": exc.status, "error": str(exc)[:1000]})
        conn.commit()
        raise
    except AccessDenied as exc:
        _record_attempts(conn, tenant_id, notification, exc.attempts, exc.status)
        conn.commit()
        raise
    result.requests += len(answer.attempts)
    if fault_hook:
        fault_hook("after_send", result.sent)
    _record_attempts(conn, tenant_id, notification, answer.attempts, answer.status)
    if 200 <= answer.status < 300:
        result.delivered += conn.execute(sql_text("delivery/notifications/delivered.sql"), {
            "tenant_id": tenant_id, "event_id": notification.event_id, "status": answer.status}).rowcount
        append_event(conn, tenant_id=tenant_id, event_type="registry.notified", entity_type="credential",
                     entity_key=notification.credential_id,
                     detail={"event_id": notification.event_id, "type": notification.event_type,
                             "status": answer.status,
                             "duplicate": isinstance(answer.body, dict) and answer.body.get("status") == "duplicate"})
    else:
        problem = answer.body if isinstance(answer.body, dict) else {"detail": str(answer.body)[:500]}
        result.dead += _kill(conn, tenant_id, notification, answer.status, f"registry_refused_{answer.status}",
                             problem)
    conn.commit()


def _kill(conn: psycopg.Connection, tenant_id: str, notification: Notification, status: int | None, reason: str,
          detail: dict[str, Any]) -> int:
    conn.execute(sql_text("delivery/notifications/mark_dead.sql"),
                 {"tenant_id": tenant_id, "event_id": notification.event_id, "status": status,
                  "error": f"{reason}: {str(detail)[:500]}"})
    dead_letter(conn, tenant_id=tenant_id, source=DEAD_LETTER_SOURCE, entity_key=notification.event_id,
                reason=reason, detail=detail,
                payload={"event_id": notification.event_id, "idempotency_key": notification.idempotency_key,
                         "credential_id": notification.credential_id, "body": json.loads(notification.body)})
    return 1


def _record_attempts(conn: psycopg.Connection, tenant_id: str, notification: Notification,
                     attempts: list[Attempt], final_status: int | None) -> None:
    operation = OPERATIONS[notification.event_type]
    subs.record_attempts(conn, tenant_id, [
        subs.AttemptRow(notification.credential_id, notification.event_id, operation, attempt,
                        final_status if i == len(attempts) - 1 else None)
        for i, attempt in enumerate(attempts)])


def replay_notification(conn: psycopg.Connection, tenant_id: str, event_id: str,
                        client: NotificationClient) -> tuple[bool, str]:
    """Send a dead-lettered notification again (``dlq_replay`` source ``registry_notification``).

    Under its own event id, so the registry keeps it once even if an earlier send did land.
    A notification the registry rejected after review is not sent again: its decision stands
    until the data is fixed and a new credential version is issued.
    """
    from psycopg.rows import dict_row

    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(sql_text("delivery/notifications/by_event.sql"),
                          {"tenant_id": tenant_id, "event_id": event_id}).fetchone()
    if row is None:
        return False, "no notification with this event id"
    if row["review_state"] == "rejected":
        return False, f"still failing: rejected by the registry after review ({row['review_reason']})"
    if row["state"] == "acknowledged":
        return True, "already delivered"
    notification = Notification(row["event_id"], row["idempotency_key"], str(row["credential_id"]),
                                row["event_type"], notification_body(row), row["attempts"])
    try:
        answer = client.send(notification.event_id, notification.body)
    except ServiceUnavailable as exc:
        _record_attempts(conn, tenant_id, notification, exc.attempts, None)
        return False, f"still failing: {str(exc)[:300]}"
    _record_attempts(conn, tenant_id, notification, answer.attempts, answer.status)
    if not 200 <= answer.status < 300:
        return False, f"still failing: {answer.status} {str(answer.body)[:300]}"
    # dead -> acknowledged is a forward move (the submissions' ranks).
    conn.execute(sql_text("delivery/notifications/delivered.sql"),
                 {"tenant_id": tenant_id, "event_id": event_id, "status": answer.status})
    append_event(conn, tenant_id=tenant_id, event_type="registry.notified", entity_type="credential",
                 entity_key=notification.credential_id,
                 detail={"event_id": event_id, "type": notification.event_type, "status": answer.status,
                         "replayed": True})
    return True, f"delivered ({answer.status})"
