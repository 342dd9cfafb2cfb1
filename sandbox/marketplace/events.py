"""Signed, replay-protected events in: ``learning_completed`` and ``badge_awarded``.

The order of the checks is the contract's: bearer token (done by the caller), timestamp inside the window,
the (timestamp, signature) pair not used by another event, signature, body, scope, Idempotency-Key =
event_id. An event the marketplace holds already is a duplicate (200) and changes nothing.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sandbox.marketplace.auth import Authority, Principal
from sandbox.marketplace.contract import json_body
from sandbox.marketplace.problems import ProblemError
from sandbox.marketplace.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_matches
from sandbox.marketplace.store import MarketplaceStore, profile_of

EVENT_SCOPES = {"learning_completed": "write:learning", "badge_awarded": "write:badge"}


def _upsert_item(items: list[dict[str, Any]], key: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(existing for existing in items if existing.get(key) != item[key]), item]


def apply_event(member: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The member profile after a learning_completed or badge_awarded event."""
    profile, data = profile_of(member), event["data"]
    if event["type"] == "learning_completed":
        course = data["course_id"]
        profile["learning_completed"] = _upsert_item(profile.get("learning_completed") or [], "course_id", {
            "course_id": course, "completed": True, "completed_at": data.get("completed_at", event["occurred_at"])})
        if data.get("score") is not None:
            profile["score"] = _upsert_item(profile.get("score") or [], "course_id", {
                "course_id": course, "score": data["score"], "grading_scale": data.get("grading_scale")})
        profile["enrollment_state"] = _upsert_item(profile.get("enrollment_state") or [], "course_id",
                                                   {"course_id": course, "state": "completed"})
    else:
        profile["badge_awarded"] = _upsert_item(profile.get("badge_awarded") or [], "badge_id", dict(data))
    return profile


def receive_event(store: MarketplaceStore, authority: Authority, tolerance_seconds: int, principal: Principal,
                  headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str]]:
    """Judge one signed event (``headers`` lower-cased); its (status, body), or a :class:`ProblemError`."""
    tenant = principal.tenant
    key = headers.get("idempotency-key")
    if key is None:
        raise ProblemError(400, "idempotency_key_required", "events need Idempotency-Key: <event_id>")
    timestamp_text, signature = headers.get(TIMESTAMP_HEADER.lower()), headers.get(SIGNATURE_HEADER.lower())
    if not timestamp_text or not signature:
        raise ProblemError(401, "invalid_signature", f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required")
    if not timestamp_text.isascii() or not timestamp_text.isdigit() or len(timestamp_text) > 12:
        raise ProblemError(401, "invalid_signature", f"{TIMESTAMP_HEADER} must be unix seconds")
    timestamp = int(timestamp_text)
    skew = abs(time.time() - timestamp)
    if skew > tolerance_seconds:
        raise ProblemError(401, "replayed", f"the timestamp is {skew:.0f} s away from the marketplace's clock "
                                            f"(window ±{tolerance_seconds} s)")
    # Looked up before the signature is checked: captured headers resent with another body are a replay.
    event_id = event_id_of(raw)
    with store.transaction() as db:
        owner = store.signature_owner(db, tenant, timestamp, signature)
    if owner is not None and owner != event_id:
        raise ProblemError(401, "replayed", "this timestamp and signature were already used by another event")
    if not signature_matches(principal.client.signing_secret, timestamp, raw, signature):
        raise ProblemError(401, "invalid_signature", "the signature does not match the body and timestamp")
    event = json_body(raw, headers.get("content-type"), "EventInput")
    scope = EVENT_SCOPES[event["type"]]
    authority.require_scope(principal, scope)
    if key != event["event_id"]:
        raise ProblemError(422, "validation_failed", "Idempotency-Key must be the event_id")
    with store.transaction() as db:
        known = store.find_event(db, tenant, event["event_id"])
        if known is not None:
            if json.loads(known["body"]) != event:
                raise ProblemError(422, "idempotency_conflict",
                                   f"event {event['event_id']!r} was already received with other content")
            return 200, {"status": "duplicate"}
        member = store.member(tenant, event["member_id"], db)
        if member is None:
            raise ProblemError(404, "not_found", f"member {event['member_id']!r} is not in the marketplace")
        store.put_member(db, tenant, apply_event(member, event))
        store.save_event(db, tenant, event, timestamp, signature)
    return 202, {"status": "accepted"}


def event_id_of(raw: bytes) -> str | None:
    try:
        event_id = json.loads(raw).get("event_id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return event_id if isinstance(event_id, str) else None
