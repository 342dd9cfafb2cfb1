"""Query keys of a statement: what the ``agent``, ``verb``, ``activity`` and ``registration``
filters of GET /statements match against.

Each key is a 64-bit hash of ``"<kind>|<value>"`` stored in an index table, so a filtered
page is one ordered index range scan even with a million statements. A statement whose
object is a StatementRef also carries the keys of the statement it targets (which carries
the keys of its own target, and so on): that is the spec's "Filter Conditions for
StatementRefs" rule, under which "Andrew confirmed <ref to 'Ben passed explosives'>"
matches an agent filter for Ben.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

IFI_PROPERTIES = ("mbox", "mbox_sha1sum", "openid", "account")


def agent_identity(agent: dict[str, Any]) -> str | None:
    """The Inverse Functional Identifier of an Agent or identified Group as one string, or None."""
    for prop in IFI_PROPERTIES:
        if prop in agent:
            value = agent[prop]
            if prop == "account" and isinstance(value, dict):
                return f"account:{value.get('homePage')}|{value.get('name')}"
            return f"{prop}:{value}"
    return None


def _agents_in(actor: Any) -> Iterable[str]:
    """IFIs of an Agent/Group and of a Group's members (members match the agent filter too)."""
    if not isinstance(actor, dict):
        return
    ifi = agent_identity(actor)
    if ifi:
        yield ifi
    if actor.get("objectType") == "Group":
        for member in actor.get("member") or []:
            if isinstance(member, dict):
                member_ifi = agent_identity(member)
                if member_ifi:
                    yield member_ifi


def key_hash(kind: str, value: str) -> int:
    """Signed 64-bit key for SQLite's INTEGER column; collisions are negligible at sandbox scale."""
    digest = hashlib.blake2b(f"{kind}|{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def own_keys(statement: dict[str, Any]) -> set[int]:
    """Keys from the statement's own actor, verb, object and registration."""
    keys: set[int] = set()
    for ifi in _agents_in(statement.get("actor")):
        keys.add(key_hash("agent", ifi))
    obj = statement.get("object") or {}
    object_type = obj.get("objectType", "Activity") if isinstance(obj, dict) else None
    if object_type in ("Agent", "Group"):
        for ifi in _agents_in(obj):
            keys.add(key_hash("agent", ifi))
    elif object_type == "Activity" and isinstance(obj.get("id"), str):
        keys.add(key_hash("activity", obj["id"]))
    verb = statement.get("verb")
    if isinstance(verb, dict) and isinstance(verb.get("id"), str):
        keys.add(key_hash("verb", verb["id"]))
    context = statement.get("context")
    if isinstance(context, dict) and isinstance(context.get("registration"), str):
        keys.add(key_hash("registration", context["registration"].lower()))
    return keys


def statement_ref_target(statement: dict[str, Any]) -> str | None:
    """The id a statement targets through a StatementRef object, lower-cased, or None."""
    obj = statement.get("object")
    if isinstance(obj, dict) and obj.get("objectType") == "StatementRef" and isinstance(obj.get("id"), str):
        return obj["id"].lower()
    return None


def all_keys(
    statement: dict[str, Any],
    load_target: Callable[[str], dict[str, Any] | None],
    max_depth: int = 10,
) -> set[int]:
    """Own keys plus, recursively, those of StatementRef targets already stored."""
    keys = own_keys(statement)
    target_id = statement_ref_target(statement)
    seen: set[str] = set()
    depth = 0
    while target_id and target_id not in seen and depth < max_depth:
        seen.add(target_id)
        target = load_target(target_id)
        if target is None:
            break
        keys |= own_keys(target)
        target_id = statement_ref_target(target)
        depth += 1
    return keys
