"""Property-based, against the real warehouse: any correctly signed delivery is recorded or refused with a
reason; nothing a signer can put in a body makes the receiver fail with anything else (a 500).

Signed bodies reach Postgres, so this is where what jsonb and text columns
cannot hold (NUL, lone surrogates, NaN) shows up.
"""

from __future__ import annotations

import secrets
import time

from hypothesis import HealthCheck, example, given, settings

from credsync.people.webhooks import Outcome, Rejection, WebhookEvent, WebhookReceiver, WebhookRejected, sign
from tests.integration.people.test_hris_webhooks import stored_events
from tests.unit.people.test_webhook_properties import encoded, event_like

SECRET = "whsec-property-warehouse"


def test_any_signed_delivery_is_recorded_or_refused_with_a_reason(warehouse_url):
    tenant = f"prop_{secrets.token_hex(6)}"  # a tenant of its own: the session's warehouse is shared
    valid = {"event_id": "evt-prop-base", "type": "worker.hired", "tenant_id": tenant, "employee_id": "A000001",
             "occurred_at": "2026-01-05T08:00:00+00:00"}
    triggered: list[str] = []

    def trigger(event: WebhookEvent) -> str:
        triggered.append(event.event_id)
        return f"run-{len(triggered)}"

    receiver = WebhookReceiver(warehouse_url, secret_for=lambda t: SECRET if t == tenant else None, trigger=trigger)
    outcomes: dict[str, int] = {}

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(event=event_like(tenant))
    @example(event={**valid, "event_id": "evt-prop-nul-id", "employee_id": "A\u0000001"})
    @example(event={**valid, "event_id": "evt-prop-nul-extra", "note": "nul \u0000 inside"})
    @example(event={**valid, "event_id": "evt-prop-surrogate", "note": "\ud800"})
    @example(event={**valid, "event_id": "evt-prop-nan", "score": float("nan")})
    @example(event=valid)
    def deliver(event):
        body = encoded(event)
        try:
            receipt = receiver.receive(tenant, body, sign(SECRET, body, int(time.time())))
        except WebhookRejected as exc:
            assert exc.detail
            assert exc.reason in {Rejection.MALFORMED, Rejection.REPLAYED_WITH_DIFFERENT_BODY}, exc
            outcomes[exc.reason.value] = outcomes.get(exc.reason.value, 0) + 1
            return
        assert receipt.outcome in {Outcome.ACCEPTED, Outcome.ALREADY_PROCESSED}
        assert receipt.event_id == event["event_id"]
        outcomes[receipt.outcome.value] = outcomes.get(receipt.outcome.value, 0) + 1

    deliver()
    assert outcomes.get("accepted") and outcomes.get("malformed"), outcomes
    assert set(triggered) == set(stored_events(warehouse_url, tenant)), "each trigger has its recorded event"
