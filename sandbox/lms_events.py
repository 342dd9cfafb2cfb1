"""The LMS's completion webhooks: record a completion in the LMS sandbox, then send it signed.

Faithful to how LMS webhooks behave in the wild: at-least-once delivery (duplicates), no
ordering guarantee (reordering), and senders or proxies that mangle a signature. Each
completion is first upserted into the LMS sandbox's REST export
(``POST <lrs>/admin/<tenant>/completions``), so the export the scheduled pull reads and the
events agree; then one ``completion.recorded`` event per completion is POSTed to the receiver
with ``X-LMS-Signature: t=<unix>,v1=<HMAC-SHA256(secret, "<t>.<body>")>``.

Faults (:class:`EventFaults`, seeded so a test is repeatable):

- ``duplicate_rate``: the event is sent again (same event id, same body) right after;
- ``reorder_window``: events are shuffled within windows of this many before sending;
- ``bad_signature_rate``: a copy signed with a wrong secret goes first (the receiver must
  refuse it, 401) and the good one after;
- ``drop_rate``: the event is never sent (only the scheduled pull can find the completion).

A delivery that gets no answer or a 5xx is sent again (up to ``attempts``, backing off), as LMS
webhook senders do: a receiver that recorded the event but answered too late sees it twice.

``python -m sandbox.lms_events --help`` drives it from a shell (the benchmark uses the class).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

SIGNATURE_HEADER = "X-LMS-Signature"
EVENT_TYPE = "completion.recorded"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def completion_item(employee_id: str, course_code: str = "CPR-101", *, score: int = 92,
                    enrollment_id: str | None = None, completed_at: str | None = None,
                    status: str = "completed") -> dict[str, Any]:
    """An LMS REST completion item (the export's contract) completed now."""
    moment = completed_at or now_iso()
    return {"enrollment_id": enrollment_id or f"enr-{uuid.uuid4()}", "user_external_id": employee_id,
            "course_code": course_code, "completion_status": status,
            "success_status": "passed" if status == "completed" else "unknown",
            "score": {"raw": score, "min": 0, "max": 100, "scaled": score / 100} if status == "completed" else None,
            "completed_at": moment if status == "completed" else None, "updated_at": moment}


def completion_event(tenant_id: str, item: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {"event_id": event_id or str(uuid.uuid4()), "type": EVENT_TYPE, "tenant_id": tenant_id,
            "occurred_at": item.get("updated_at") or now_iso(), "completion": item}


@dataclass
class EventFaults:
    duplicate_rate: float = 0.0
    reorder_window: int = 0
    bad_signature_rate: float = 0.0
    drop_rate: float = 0.0
    seed: int = 1


@dataclass
class Delivery:
    event_id: str
    status: int | None
    forged: bool = False
    error: str | None = None
    sent_at: float = 0.0


@dataclass
class LmsEventSender:
    """Records completions in the LMS sandbox and sends their signed events to ``receiver_url``."""

    lms_url: str             # the LRS/LMS sandbox base URL
    receiver_url: str        # e.g. <api-server>/credsync-events/lms/<tenant>/completions
    tenant_id: str
    secret: str
    faults: EventFaults = field(default_factory=EventFaults)
    timeout: float = 10.0
    attempts: int = 4
    deliveries: list[Delivery] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.faults.seed)
        self._client = httpx.Client(timeout=self.timeout)

    def close(self) -> None:
        self._client.close()

    def record(self, items: list[dict[str, Any]]) -> None:
        """Upsert ``items`` into the LMS export (what the scheduled pull reads)."""
        self._client.post(f"{self.lms_url}/admin/{self.tenant_id}/completions", json=items).raise_for_status()

    def emit(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Record ``items`` in the LMS, then send one event each (with the faults); returns the events."""
        self.record(items)
        events = [completion_event(self.tenant_id, item) for item in items]
        self.send(events)
        return events

    def send(self, events: Iterable[dict[str, Any]]) -> None:
        queue = list(events)
        window = self.faults.reorder_window
        if window > 1:
            for start in range(0, len(queue), window):
                part = queue[start:start + window]
                self._rng.shuffle(part)
                queue[start:start + window] = part
        for event in queue:
            if self._rng.random() < self.faults.drop_rate:
                continue
            body = json.dumps(event, separators=(",", ":")).encode()
            if self._rng.random() < self.faults.bad_signature_rate:
                self._post(event["event_id"], body, sign(self.secret + "-wrong", body, int(time.time())), forged=True)
            self._post(event["event_id"], body, sign(self.secret, body, int(time.time())))
            if self._rng.random() < self.faults.duplicate_rate:
                self._post(event["event_id"], body, sign(self.secret, body, int(time.time())))

    def _post(self, event_id: str, body: bytes, signature: str, *, forged: bool = False) -> None:
        """One delivery; retried like LMS webhooks are (no answer or 5xx: again, up to ``attempts``, with
        the same body and a fresh signature), so the receiver sees duplicates of events it already has."""
        for attempt in range(self.attempts):
            sent = time.time()
            if attempt:
                signature = sign(self.secret + ("-wrong" if forged else ""), body, int(sent))
            try:
                answer = self._client.post(self.receiver_url, content=body,
                                           headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature})
            except httpx.HTTPError as exc:
                self.deliveries.append(Delivery(event_id, None, forged, f"{type(exc).__name__}: {exc}", sent))
            else:
                self.deliveries.append(Delivery(event_id, answer.status_code, forged, sent_at=sent))
                if answer.status_code < 500:
                    return
            time.sleep(min(8.0, 0.5 * 2 ** attempt))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lms", required=True, help="LMS (LRS) sandbox base URL")
    parser.add_argument("--receiver", required=True, help="the receiver URL for this tenant")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--secret", required=True, help="the tenant's webhook secret")
    parser.add_argument("--employees", required=True, help="comma-separated employee ids, one completion each")
    parser.add_argument("--course", default="CPR-101")
    parser.add_argument("--duplicate-rate", type=float, default=0.0)
    parser.add_argument("--reorder-window", type=int, default=0)
    parser.add_argument("--bad-signature-rate", type=float, default=0.0)
    args = parser.parse_args(argv)
    sender = LmsEventSender(args.lms, args.receiver, args.tenant, args.secret,
                            EventFaults(args.duplicate_rate, args.reorder_window, args.bad_signature_rate))
    events = sender.emit([completion_item(e, args.course) for e in args.employees.split(",") if e])
    sender.close()
    print(json.dumps({"events": len(events), "deliveries": [d.__dict__ for d in sender.deliveries]}, indent=1))


if __name__ == "__main__":
    main()
