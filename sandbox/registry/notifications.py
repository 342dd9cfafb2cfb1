"""The registry's notification inbox (credsync → registry) and its reviews back (registry → credsync).

In: ``POST /v1/notifications`` (bearer token with ``certificates:write``, as for the pushes) with
``X-Credsync-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`` and body
``{event_id, type, tenant_id, certificate_id, occurred_at}``; ``type`` is ``credential.issued`` or
``credential.revoked``. Secret: env ``SANDBOX_REGISTRY_NOTIFICATION_SECRET``. Answers:

- 202 ``{"status": "received"}``: new, kept once in the inbox;
- 200 ``{"status": "duplicate"}``: this event id with this body is already there (a re-send);
- 401 ``bad-signature``; 400 ``stale-timestamp`` (outside 300 s) or a malformed body;
- 409 ``event-id-reused``: the event id arrived before with a different body;
- 422 ``unknown-certificate`` / ``certificate-not-revoked``: permanent refusals.

Out: ``POST /admin/notifications/{event_id}/review`` ``{"decision": "acknowledged"|"rejected",
"reason"?, "callback_url"}`` makes the registry's decision on a received notification and sends it,
signed with env ``SANDBOX_REGISTRY_WEBHOOK_SECRET`` (header ``X-Registry-Signature``), to
``<callback_url>/registry/<tenant>/notifications``; the answer holds what was sent and the
receiver's reply, so a test can replay it. ``GET /admin/notifications`` lists the inbox (each
event once, with how many times it was delivered); ``DELETE /admin/notifications`` empties it.

Faults (sandbox/faults.py) apply to ``/v1/notifications`` like every business path: a reset after
the inbox recorded a notification is the lost answer that the event id dedupe exists for.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sandbox.registry.problems import PROBLEM_MEDIA_TYPE, ProblemError

IN_HEADER = "X-Credsync-Signature"
OUT_HEADER = "X-Registry-Signature"
TOLERANCE_SECONDS = 300
TYPES = ("credential.issued", "credential.revoked")
DEFAULT_NOTIFICATION_SECRET = "credsync-notification-sandbox-secret"
DEFAULT_WEBHOOK_SECRET = "registry-webhook-sandbox-secret"
_HEADER = re.compile(r"^t=(\d{1,12}),v1=([0-9a-f]{64})$")

SCHEMA = """
CREATE TABLE IF NOT EXISTS notifications (
    event_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    type TEXT NOT NULL,
    certificate_id TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 1,
    review TEXT
);
"""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class NotificationInbox:
    """What the registry received, in SQLite next to its certificates (one writer at a time)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._db.executescript(SCHEMA)

    def record(self, client_id: str, event: dict[str, Any], body: bytes) -> tuple[int, dict[str, Any]]:
        with self._lock:
            row = self._db.execute("SELECT body FROM notifications WHERE event_id = ?", (event["event_id"],)).fetchone()
            if row is not None:
                if row["body"] != body.decode():
                    raise ProblemError(409, "event-id-reused",
                                       f"event {event['event_id']!r} was received before with a different body")
                self._db.execute("UPDATE notifications SET deliveries = deliveries + 1 WHERE event_id = ?",
                                 (event["event_id"],))
                return 200, {"status": "duplicate", "event_id": event["event_id"]}
            self._db.execute(
                "INSERT INTO notifications (event_id, client_id, tenant_id, type, certificate_id, occurred_at, body,"
                " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (event["event_id"], client_id, event["tenant_id"], event["type"], event["certificate_id"],
                 event["occurred_at"], body.decode(), datetime.now(UTC).isoformat()))
            return 202, {"status": "received", "event_id": event["event_id"]}

    def listing(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT event_id, tenant_id, type, certificate_id, occurred_at, received_at,"
                                    " deliveries, review FROM notifications ORDER BY received_at, event_id").fetchall()
        return [dict(row) for row in rows]

    def get(self, event_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM notifications WHERE event_id = ?", (event_id,)).fetchone()
        return dict(row) if row else None

    def set_review(self, event_id: str, decision: str) -> None:
        with self._lock:
            self._db.execute("UPDATE notifications SET review = ? WHERE event_id = ?", (decision, event_id))

    def reset(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM notifications")


def verify(secret: str, body: bytes, header: str | None, now: float) -> None:
    """Raise a problem unless ``header`` signs ``body`` with ``secret`` within the window."""
    match = _HEADER.match((header or "").strip())
    if match is None:
        raise ProblemError(401, "bad-signature", f"{IN_HEADER} is missing or not t=<unix>,v1=<hex>")
    stamp, digest = match.groups()
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, digest):
        raise ProblemError(401, "bad-signature", "the signature does not match the body")
    if abs(now - int(stamp)) > TOLERANCE_SECONDS:
        raise ProblemError(400, "stale-timestamp", f"signed outside the {TOLERANCE_SECONDS} s window")


def _event(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ProblemError(400, "malformed-json", "the body is not JSON") from None
    fields = ("event_id", "type", "tenant_id", "certificate_id", "occurred_at")
    if not isinstance(event, dict) or any(not isinstance(event.get(f), str) or not event[f] for f in fields):
        raise ProblemError(400, "invalid-notification", f"a notification needs the string fields {list(fields)}")
    if event["type"] not in TYPES:
        raise ProblemError(400, "invalid-notification", f"type must be one of {list(TYPES)}")
    return event


def add_routes(api: FastAPI, *, writer: Any, store: Any, inbox: NotificationInbox, notification_secret: str,
               webhook_secret: str) -> None:
    """Mount the inbox and its admin routes on the registry app (``writer``: the write-scope dependency)."""
    from fastapi import Depends

    writer_dependency = Depends(writer)

    @api.post("/v1/notifications")
    async def receive_notification(request: Request, principal: Any = writer_dependency) -> JSONResponse:
        body = await request.body()
        verify(notification_secret, body, request.headers.get(IN_HEADER), time.time())
        event = _event(body)
        if not principal.client.may_act_for(event["tenant_id"]):
            raise ProblemError(403, "tenant-forbidden", "this client may not act for that tenant")
        certificate = await run_in_threadpool(store.get_certificate, event["certificate_id"])
        if certificate is None or certificate["tenant_id"] != event["tenant_id"]:
            raise ProblemError(422, "unknown-certificate",
                               f"certificate {event['certificate_id']!r} is not registered for this tenant")
        if event["type"] == "credential.revoked" and certificate.get("status") != "revoked":
            raise ProblemError(422, "certificate-not-revoked",
                               f"certificate {event['certificate_id']!r} is not revoked in the registry")
        status, answer = await run_in_threadpool(inbox.record, principal.client.client_id, event, body)
        return JSONResponse(answer, status_code=status)

    @api.get("/admin/notifications")
    async def list_notifications() -> dict[str, Any]:
        return {"data": await run_in_threadpool(inbox.listing)}

    @api.delete("/admin/notifications")
    async def empty_inbox() -> dict[str, str]:
        await run_in_threadpool(inbox.reset)
        return {"status": "emptied"}

    @api.post("/admin/notifications/{event_id}/review")
    async def review(event_id: str, request: Request) -> JSONResponse:
        order = json.loads(await request.body() or b"{}")
        received = await run_in_threadpool(inbox.get, event_id)
        if received is None:
            raise ProblemError(404, "notification-not-found", f"no notification {event_id!r} was received")
        decision = order.get("decision")
        if decision not in ("acknowledged", "rejected"):
            raise ProblemError(400, "invalid-review", "decision must be 'acknowledged' or 'rejected'")
        sent = {"event_id": order.get("event_id") or f"rv-{uuid.uuid4()}", "type": f"notification.{decision}",
                "tenant_id": received["tenant_id"], "notification_event_id": event_id,
                "occurred_at": datetime.now(UTC).isoformat()}
        if decision == "rejected":
            sent["reason"] = order.get("reason") or "rejected after manual review"
        body = json.dumps(sent, separators=(",", ":")).encode()
        signature = sign(webhook_secret, body, int(time.time()))
        url = f"{order['callback_url'].rstrip('/')}/registry/{received['tenant_id']}/notifications"
        async with httpx.AsyncClient(timeout=10) as client:
            reply = await client.post(url, content=body,
                                      headers={"Content-Type": "application/json", OUT_HEADER: signature})
        if reply.status_code < 300:
            await run_in_threadpool(inbox.set_review, event_id, decision)
        return JSONResponse({"sent": sent, "body": body.decode(), "signature": signature,
                             "reply": {"status": reply.status_code, "body": _json_or_text(reply)}})


def _json_or_text(reply: httpx.Response) -> Any:
    try:
        return reply.json()
    except ValueError:
        return reply.text[:2000]


__all__ = ["PROBLEM_MEDIA_TYPE", "NotificationInbox", "add_routes", "sign", "verify"]
