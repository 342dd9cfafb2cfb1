"""Member change webhooks to credsync: signed like the events credsync sends, retried on non-2xx.

Delivery runs on one background thread, in order per tenant, as a real marketplace's queue would:
each attempt (delivered, failed with its status, or dropped by the ``drop_webhooks`` fault) is
recorded, and a failed one is retried with exponential back-off up to the target's ``max_attempts``.
The same event id is sent on every attempt, so a receiver that dedupes by it sees one change.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from sandbox.marketplace.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from sandbox.marketplace.store import MarketplaceStore, now_text

DELIVERY_TIMEOUT_SECONDS = 2.0
FIRST_RETRY_SECONDS = 0.2
MAX_RETRY_SECONDS = 5.0


def member_event(event_type: str, member_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "type": event_type, "member_id": member_id, "occurred_at": now_text(),
            "data": data}


class WebhookSender:
    """Queues member change events per tenant and delivers them on a daemon thread."""

    def __init__(self, store: MarketplaceStore, drop: Callable[[], bool]) -> None:
        self.store = store
        self._drop = drop
        self._queue: queue.Queue[tuple[str, dict[str, Any]]] = queue.Queue()
        self._idle = threading.Event()
        self._idle.set()
        self._generation = 0
        threading.Thread(target=self._run, name="marketplace-webhooks", daemon=True).start()

    def enqueue(self, tenant: str, event: dict[str, Any]) -> None:
        if self.store.webhook(tenant) is None:
            return
        self._idle.clear()
        self._queue.put((tenant, event))

    def forget(self) -> None:
        """Drop everything queued (admin reset): a reset sandbox has no changes left to announce."""
        self._generation += 1
        while not self._queue.empty():
            try:
                self._queue.get_nowait()
                self._queue.task_done()
            except queue.Empty:
                break

    def _run(self) -> None:
        with httpx.Client(timeout=DELIVERY_TIMEOUT_SECONDS) as http:
            while True:
                tenant, event = self._queue.get()
                try:
                    self._deliver(http, tenant, event, self._generation)
                finally:
                    self._queue.task_done()
                    if self._queue.unfinished_tasks == 0:
                        self._idle.set()

    def _deliver(self, http: httpx.Client, tenant: str, event: dict[str, Any], generation: int) -> None:
        delay = FIRST_RETRY_SECONDS
        attempt = 0
        while generation == self._generation:
            target = self.store.webhook(tenant)
            if target is None:
                return
            url, secret, max_attempts = target
            attempt += 1
            outcome, status = self._attempt(http, url, secret, event)
            self.store.record_delivery(tenant, event, attempt, outcome, status)
            if outcome == "delivered" or attempt >= max_attempts:
                return
            time.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_SECONDS)

    def _attempt(self, http: httpx.Client, url: str, secret: str, event: dict[str, Any]) -> tuple[str, int | None]:
        if self._drop():
            return "dropped", None
        body = json.dumps(event, separators=(",", ":")).encode()
        timestamp = int(time.time())  # signed per attempt: a retry an hour later is still fresh
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: sign(secret, timestamp, body)}
        try:
            response = http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return f"failed: {type(exc).__name__}", None
        return ("delivered" if response.is_success else "failed"), response.status_code

    def wait_idle(self, timeout: float) -> bool:
        return self._idle.wait(timeout)
