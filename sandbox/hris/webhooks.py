"""Signed webhook delivery: ``X-HRIS-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.

Delivery is synchronous with a short timeout and one attempt; every attempt
(delivered, failed, or dropped by the ``drop_webhooks`` fault) is logged so a
test or an on-call engineer can see what the receiver should have got.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from sandbox.hris.store import HrisStore

SIGNATURE_HEADER = "X-HRIS-Signature"
DELIVERY_TIMEOUT_SECONDS = 2.0


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for ``body`` sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event(event_type: str, tenant_id: str, employee_id: str, occurred_at: str) -> dict[str, Any]:
    """A webhook event in the contract shape."""
    return {
        "event_id": str(uuid.uuid4()),
        "type": event_type,
        "tenant_id": tenant_id,
        "employee_id": employee_id,
        "occurred_at": occurred_at,
    }


ERASURE_REQUESTED = "worker.erasure_requested"


def erasure_event(tenant_id: str, employee_id: str, occurred_at: str, regulation: str) -> dict[str, Any]:
    """The event privacy tooling sends for a data subject's erasure request: the contract fields, plus the
    regulation and the date the answer is due (GDPR Art. 12(3): one month; CCPA: 45 days)."""
    due = datetime.fromisoformat(occurred_at.replace("Z", "+00:00")) + timedelta(days=30 if regulation == "gdpr"
                                                                                 else 45)
    return {**event(ERASURE_REQUESTED, tenant_id, employee_id, occurred_at), "regulation": regulation,
            "due_by": due.date().isoformat()}


def lifecycle_event(previous: dict[str, Any] | None, current: dict[str, Any]) -> str | None:
    """``worker.hired`` / ``worker.terminated`` when a change crosses into that status, else None."""
    before = previous["employment"]["status"] if previous else None
    after = current["employment"]["status"]
    if after == "terminated" and before != "terminated":
        return "worker.terminated"
    if after != "terminated" and before in (None, "terminated"):
        return "worker.hired"
    return None


class WebhookSender:
    """Sends a tenant's events to its registered target and logs each attempt."""

    def __init__(self, store: HrisStore, drop: Callable[[], bool]) -> None:
        self.store = store
        self._drop = drop

    def send(self, tenant_id: str, events: list[dict[str, Any]]) -> int:
        """Deliver ``events`` in order; returns how many the receiver accepted (2xx)."""
        target = self.store.webhook(tenant_id)
        if target is None or not events:
            return 0
        url, secret = target
        accepted = 0
        with httpx.Client(timeout=DELIVERY_TIMEOUT_SECONDS) as client:
            for item in events:
                accepted += self._deliver(client, tenant_id, url, secret, item)
        return accepted

    def _deliver(self, client: httpx.Client, tenant_id: str, url: str, secret: str, item: dict[str, Any]) -> int:
        body = json.dumps(item, separators=(",", ":")).encode()
        record: dict[str, Any] = {
            "event_id": item["event_id"],
            "type": item["type"],
            "employee_id": item["employee_id"],
            "url": url,
            "status_code": None,
            "error": None,
            "attempted_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "duration_ms": None,
            "body": body.decode(),
        }
        if self._drop():
            self.store.record_delivery(tenant_id, {**record, "outcome": "dropped"})
            return 0
        started = time.perf_counter()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body, int(time.time()))}
        try:
            response = client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            record.update(outcome="failed", error=f"{type(exc).__name__}: {exc}")
        else:
            ok = response.is_success
            record.update(outcome="delivered" if ok else "failed", status_code=response.status_code,
                          error=None if ok else f"receiver answered {response.status_code}")
        record["duration_ms"] = round((time.perf_counter() - started) * 1000)
        self.store.record_delivery(tenant_id, record)
        return 1 if record["outcome"] == "delivered" else 0
