"""The ``format`` parameter of GET /statements: ``exact``, ``ids`` and ``canonical``."""

from __future__ import annotations

from typing import Any

from sandbox.lrs.filter_keys import IFI_PROPERTIES


def _agent_ids(agent: Any) -> Any:
    """An Agent or Group reduced to what identifies it (members, for an anonymous Group)."""
    if not isinstance(agent, dict):
        return agent
    reduced: dict[str, Any] = {"objectType": agent.get("objectType", "Agent")}
    ifi = next((p for p in IFI_PROPERTIES if p in agent), None)
    if ifi:
        reduced[ifi] = agent[ifi]
    elif agent.get("objectType") == "Group":
        reduced["member"] = [_agent_ids(m) for m in agent.get("member") or []]
    return reduced


def _object_ids(obj: Any) -> Any:
    if not isinstance(obj, dict):
        return obj
    object_type = obj.get("objectType", "Activity")
    if object_type == "Activity":
        return {"objectType": "Activity", "id": obj.get("id")}
    if object_type in ("Agent", "Group"):
        return _agent_ids(obj)
    if object_type == "SubStatement":
        return _statement_ids(obj)
    return obj


def _statement_ids(statement: dict[str, Any]) -> dict[str, Any]:
    reduced = dict(statement)
    for prop in ("actor", "authority"):
        if prop in reduced:
            reduced[prop] = _agent_ids(reduced[prop])
    if isinstance(reduced.get("verb"), dict):
        reduced["verb"] = {"id": reduced["verb"].get("id")}
    if "object" in reduced:
        reduced["object"] = _object_ids(reduced["object"])
    context = reduced.get("context")
    if isinstance(context, dict):
        context = dict(context)
        for prop in ("instructor", "team"):
            if prop in context:
                context[prop] = _agent_ids(context[prop])
        activities = context.get("contextActivities")
        if isinstance(activities, dict):
            context["contextActivities"] = {
                key: [_object_ids(a) for a in value] if isinstance(value, list) else _object_ids(value)
                for key, value in activities.items()
            }
        reduced["context"] = context
    return reduced


def _preferred_languages(accept_language: str | None) -> list[str]:
    """Language tags from an Accept-Language header, highest quality first."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        if not tag or tag == "*":
            continue
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, position, tag.lower()))
    return [tag for _, _, tag in sorted(ranked)]


def _one_language(language_map: Any, preferred: list[str]) -> Any:
    if not isinstance(language_map, dict) or not language_map:
        return language_map
    by_lower = {tag.lower(): tag for tag in language_map}
    for wanted in [*preferred, "en-us", "en"]:
        if wanted in by_lower:
            tag = by_lower[wanted]
            return {tag: language_map[tag]}
        prefix = next((t for lower, t in by_lower.items() if lower.split("-")[0] == wanted.split("-")[0]), None)
        if prefix:
            return {prefix: language_map[prefix]}
    first = next(iter(language_map))
    return {first: language_map[first]}


def _statement_canonical(statement: dict[str, Any], preferred: list[str]) -> dict[str, Any]:
    result = dict(statement)
    verb = result.get("verb")
    if isinstance(verb, dict) and "display" in verb:
        result["verb"] = {**verb, "display": _one_language(verb["display"], preferred)}
    obj = result.get("object")
    if isinstance(obj, dict):
        if obj.get("objectType", "Activity") == "Activity" and isinstance(obj.get("definition"), dict):
            definition = dict(obj["definition"])
            for prop in ("name", "description"):
                if prop in definition:
                    definition[prop] = _one_language(definition[prop], preferred)
            result["object"] = {**obj, "definition": definition}
        elif obj.get("objectType") == "SubStatement":
            result["object"] = _statement_canonical(obj, preferred)
    return result


def render(statement: dict[str, Any], statement_format: str, accept_language: str | None) -> dict[str, Any]:
    """A stored statement in the requested format (``exact`` returns it unchanged)."""
    if statement_format == "ids":
        return _statement_ids(statement)
    if statement_format == "canonical":
        return _statement_canonical(statement, _preferred_languages(accept_language))
    return statement
