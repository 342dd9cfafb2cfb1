"""Statement validation after xAPI Data "2.4 Statement Properties" (1.0.3, with 2.0 additions).

Every rejection names the property path and the rule, e.g.
``statement[2].result.score.scaled: 1.4 is outside [-1, 1]``, because the LRS answers 400
with that text and a pipeline engineer reads it in a task log.
"""

from __future__ import annotations

import re
from typing import Any

from sandbox.lrs.timestamps import TimestampError, parse_iso

VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Absolute IRI: a scheme, a colon and at least one non-space character.
IRI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")
MBOX_RE = re.compile(r"^mailto:[^@\s]+@[^@\s]+\.[^@\s]+$")
SHA1_RE = re.compile(r"^[0-9a-fA-F]{40}$")
LANG_TAG_RE = re.compile(r"^[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*$")
DURATION_RE = re.compile(r"^P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")

STATEMENT_PROPS = frozenset(
    {
        "id",
        "actor",
        "verb",
        "object",
        "result",
        "context",
        "timestamp",
        "stored",
        "authority",
        "version",
        "attachments",
    }
)
SUBSTATEMENT_PROPS = frozenset(
    {"objectType", "actor", "verb", "object", "result", "context", "timestamp", "attachments"}
)
AGENT_PROPS = frozenset({"objectType", "name", "mbox", "mbox_sha1sum", "openid", "account"})
GROUP_PROPS = AGENT_PROPS | {"member"}
ACTIVITY_DEFINITION_PROPS = frozenset(
    {
        "name",
        "description",
        "type",
        "moreInfo",
        "extensions",
        "interactionType",
        "correctResponsesPattern",
        "choices",
        "scale",
        "source",
        "target",
        "steps",
    }
)
RESULT_PROPS = frozenset({"score", "success", "completion", "response", "duration", "extensions"})
SCORE_PROPS = frozenset({"scaled", "raw", "min", "max"})
CONTEXT_PROPS = frozenset(
    {
        "registration",
        "instructor",
        "team",
        "contextActivities",
        "revision",
        "platform",
        "language",
        "statement",
        "extensions",
        "contextAgents",
        "contextGroups",
    }
)
CONTEXT_ACTIVITY_KEYS = frozenset({"parent", "grouping", "category", "other"})
ATTACHMENT_PROPS = frozenset({"usageType", "display", "description", "contentType", "length", "sha2", "fileUrl"})


class StatementInvalid(ValueError):
    """A statement breaks a rule of the spec; the message names the property and the rule."""


def _fail(path: str, message: str) -> None:
    raise StatementInvalid(f"{path}: {message}")


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(path, f"must be a JSON object, got {type(value).__name__}")
    return value


def _only(value: dict[str, Any], allowed: frozenset[str], path: str) -> None:
    unknown = sorted(set(value) - allowed)
    if unknown:
        _fail(path, f"unknown propert{'y' if len(unknown) == 1 else 'ies'} {unknown}")


def _iri(value: Any, path: str) -> None:
    if not isinstance(value, str) or not IRI_RE.match(value):
        _fail(path, f"{value!r} is not an absolute IRI")


def _uuid(value: Any, path: str) -> None:
    if not isinstance(value, str) or not UUID_RE.match(value):
        _fail(path, f"{value!r} is not a UUID")


def _language_map(value: Any, path: str) -> None:
    for tag, text in _object(value, path).items():
        if not LANG_TAG_RE.match(tag):
            _fail(path, f"{tag!r} is not an RFC 5646 language tag")
        if not isinstance(text, str):
            _fail(f"{path}.{tag}", "must be a string")


def _extensions(value: Any, path: str) -> None:
    for key in _object(value, path):
        _iri(key, f"{path} key")


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(path, f"{value!r} is not a number")
    return float(value)


def validate_agent(value: Any, path: str, *, allow_group: bool = True) -> None:
    """An Agent (exactly one IFI) or a Group (anonymous with members, or identified)."""
    agent = _object(value, path)
    object_type = agent.get("objectType", "Agent")
    if object_type == "Group":
        if not allow_group:
            _fail(path, "a Group is not allowed here")
        _only(agent, GROUP_PROPS, path)
        members = agent.get("member")
        if members is not None:
            if not isinstance(members, list):
                _fail(f"{path}.member", "must be an array of Agents")
            for index, member in enumerate(members):
                if isinstance(member, dict) and member.get("objectType") == "Group":
                    _fail(f"{path}.member[{index}]", "a Group cannot contain Groups")
                validate_agent(member, f"{path}.member[{index}]", allow_group=False)
        ifis = [p for p in ("mbox", "mbox_sha1sum", "openid", "account") if p in agent]
        if not ifis and not members:
            _fail(path, "an anonymous Group needs a non-empty member list")
        if len(ifis) > 1:
            _fail(path, f"a Group has at most one inverse functional identifier, got {ifis}")
        if ifis:
            _ifi(agent, ifis[0], path)
        return
    if object_type != "Agent":
        _fail(f"{path}.objectType", f"{object_type!r} is neither 'Agent' nor 'Group'")
    _only(agent, AGENT_PROPS, path)
    ifis = [p for p in ("mbox", "mbox_sha1sum", "openid", "account") if p in agent]
    if len(ifis) != 1:
        _fail(path, f"an Agent needs exactly one of mbox, mbox_sha1sum, openid, account; got {ifis or 'none'}")
    _ifi(agent, ifis[0], path)
    if "name" in agent and not isinstance(agent["name"], str):
        _fail(f"{path}.name", "must be a string")


def _ifi(agent: dict[str, Any], prop: str, path: str) -> None:
    value = agent[prop]
    if prop == "mbox":
        if not isinstance(value, str) or not MBOX_RE.match(value):
            _fail(f"{path}.mbox", f"{value!r} is not a mailto: IRI with an email address")
    elif prop == "mbox_sha1sum":
        if not isinstance(value, str) or not SHA1_RE.match(value):
            _fail(f"{path}.mbox_sha1sum", f"{value!r} is not a hex-encoded SHA1 hash")
    elif prop == "openid":
        _iri(value, f"{path}.openid")
    else:
        account = _object(value, f"{path}.account")
        _only(account, frozenset({"homePage", "name"}), f"{path}.account")
        if "homePage" not in account or "name" not in account:
            _fail(f"{path}.account", "needs both homePage and name")
        _iri(account["homePage"], f"{path}.account.homePage")
        if not isinstance(account["name"], str) or not account["name"]:
            _fail(f"{path}.account.name", "must be a non-empty string")


def _verb(value: Any, path: str) -> str:
    verb = _object(value, path)
    _only(verb, frozenset({"id", "display"}), path)
    if "id" not in verb:
        _fail(path, "missing required property 'id'")
    _iri(verb["id"], f"{path}.id")
    if "display" in verb:
        _language_map(verb["display"], f"{path}.display")
    return verb["id"]


def _activity(value: dict[str, Any], path: str) -> None:
    _only(value, frozenset({"objectType", "id", "definition"}), path)
    if "id" not in value:
        _fail(path, "an Activity needs an 'id'")
    _iri(value["id"], f"{path}.id")
    if "definition" in value:
        definition = _object(value["definition"], f"{path}.definition")
        _only(definition, ACTIVITY_DEFINITION_PROPS, f"{path}.definition")
        for prop in ("name", "description"):
            if prop in definition:
                _language_map(definition[prop], f"{path}.definition.{prop}")
        for prop in ("type", "moreInfo"):
            if prop in definition:
                _iri(definition[prop], f"{path}.definition.{prop}")
        if "extensions" in definition:
            _extensions(definition["extensions"], f"{path}.definition.extensions")


def _statement_object(value: Any, path: str, *, in_substatement: bool) -> str:
    obj = _object(value, path)
    object_type = obj.get("objectType", "Activity")
    if object_type == "Activity":
        _activity(obj, path)
    elif object_type in ("Agent", "Group"):
        validate_agent(obj, path)
    elif object_type == "StatementRef":
        _only(obj, frozenset({"objectType", "id"}), path)
        _uuid(obj.get("id"), f"{path}.id")
    elif object_type == "SubStatement":
        if in_substatement:
            _fail(path, "a SubStatement cannot contain a SubStatement")
        _statement_body(obj, path, in_substatement=True)
    else:
        _fail(
            f"{path}.objectType",
            f"{object_type!r} is not Activity, Agent, Group, StatementRef or SubStatement",
        )
    return object_type


def _result(value: Any, path: str) -> None:
    result = _object(value, path)
    _only(result, RESULT_PROPS, path)
    for prop in ("success", "completion"):
        if prop in result and not isinstance(result[prop], bool):
            _fail(f"{path}.{prop}", f"{result[prop]!r} is not a boolean")
    if "response" in result and not isinstance(result["response"], str):
        _fail(f"{path}.response", "must be a string")
    if "duration" in result and (not isinstance(result["duration"], str) or not DURATION_RE.match(result["duration"])):
        _fail(f"{path}.duration", f"{result['duration']!r} is not an ISO 8601 duration")
    if "extensions" in result:
        _extensions(result["extensions"], f"{path}.extensions")
    if "score" in result:
        _score(result["score"], f"{path}.score")


def _score(value: Any, path: str) -> None:
    score = _object(value, path)
    _only(score, SCORE_PROPS, path)
    numbers = {prop: _number(score[prop], f"{path}.{prop}") for prop in SCORE_PROPS if prop in score}
    scaled = numbers.get("scaled")
    if scaled is not None and not -1.0 <= scaled <= 1.0:
        _fail(f"{path}.scaled", f"{score['scaled']!r} is outside [-1, 1]")
    low, high, raw = numbers.get("min"), numbers.get("max"), numbers.get("raw")
    if low is not None and high is not None and high <= low:
        _fail(f"{path}.max", f"{score['max']!r} is not greater than min {score['min']!r}")
    if raw is not None and low is not None and raw < low:
        _fail(f"{path}.raw", f"{score['raw']!r} is below min {score['min']!r}")
    if raw is not None and high is not None and raw > high:
        _fail(f"{path}.raw", f"{score['raw']!r} is above max {score['max']!r}")


def _context(value: Any, path: str, object_type: str) -> None:
    context = _object(value, path)
    _only(context, CONTEXT_PROPS, path)
    if "registration" in context:
        _uuid(context["registration"], f"{path}.registration")
    if "instructor" in context:
        validate_agent(context["instructor"], f"{path}.instructor")
    if "team" in context:
        team = _object(context["team"], f"{path}.team")
        if team.get("objectType") != "Group":
            _fail(f"{path}.team", "must be a Group")
        validate_agent(team, f"{path}.team")
    for prop in ("revision", "platform"):
        if prop in context:
            if not isinstance(context[prop], str):
                _fail(f"{path}.{prop}", "must be a string")
            if object_type != "Activity":
                _fail(f"{path}.{prop}", "may only be used when the object is an Activity")
    if "language" in context and (
        not isinstance(context["language"], str) or not LANG_TAG_RE.match(context["language"])
    ):
        _fail(f"{path}.language", f"{context['language']!r} is not an RFC 5646 language tag")
    if "statement" in context:
        ref = _object(context["statement"], f"{path}.statement")
        if ref.get("objectType") != "StatementRef":
            _fail(f"{path}.statement", "must be a StatementRef")
        _uuid(ref.get("id"), f"{path}.statement.id")
    if "extensions" in context:
        _extensions(context["extensions"], f"{path}.extensions")
    if "contextActivities" in context:
        activities = _object(context["contextActivities"], f"{path}.contextActivities")
        _only(activities, CONTEXT_ACTIVITY_KEYS, f"{path}.contextActivities")
        for key, entry in activities.items():
            for index, activity in enumerate(entry if isinstance(entry, list) else [entry]):
                item_path = f"{path}.contextActivities.{key}[{index}]"
                item = _object(activity, item_path)
                if item.get("objectType", "Activity") != "Activity":
                    _fail(item_path, "must be an Activity")
                _activity(item, item_path)


def _attachments(value: Any, path: str) -> None:
    if not isinstance(value, list):
        _fail(path, "must be an array")
    for index, attachment in enumerate(value):
        item_path = f"{path}[{index}]"
        item = _object(attachment, item_path)
        _only(item, ATTACHMENT_PROPS, item_path)
        for prop in ("usageType", "display", "contentType", "length", "sha2"):
            if prop not in item:
                _fail(item_path, f"missing required property {prop!r}")
        _iri(item["usageType"], f"{item_path}.usageType")
        _language_map(item["display"], f"{item_path}.display")
        if "fileUrl" not in item:
            # Raw attachment parts arrive only in multipart/mixed requests, which this LRS does not take.
            _fail(item_path, "needs a fileUrl: this LRS accepts application/json statements only")


def _statement_body(statement: dict[str, Any], path: str, *, in_substatement: bool) -> None:
    for prop in ("actor", "verb", "object"):
        if prop not in statement:
            _fail(path, f"missing required property {prop!r}")
    validate_agent(statement["actor"], f"{path}.actor")
    verb_id = _verb(statement["verb"], f"{path}.verb")
    object_type = _statement_object(statement["object"], f"{path}.object", in_substatement=in_substatement)
    if verb_id == VOIDED_VERB and object_type != "StatementRef":
        _fail(f"{path}.object", "a statement with the 'voided' verb must target a StatementRef")
    if "result" in statement:
        _result(statement["result"], f"{path}.result")
    if "context" in statement:
        _context(statement["context"], f"{path}.context", object_type)
    if "attachments" in statement:
        _attachments(statement["attachments"], f"{path}.attachments")
    if in_substatement:
        _only(statement, SUBSTATEMENT_PROPS, path)


def validate_statement(value: Any, path: str = "statement", *, xapi_version: str = "1.0.3") -> dict[str, Any]:
    """Validate one statement as received; raise :class:`StatementInvalid` naming the rule broken."""
    statement = _object(value, path)
    _only(statement, STATEMENT_PROPS, path)
    if "id" in statement:
        _uuid(statement["id"], f"{path}.id")
    _statement_body(statement, path, in_substatement=False)
    if "timestamp" in statement:
        try:
            parse_iso(statement["timestamp"], require_offset=xapi_version.startswith("2."))
        except TimestampError as exc:
            _fail(f"{path}.timestamp", str(exc))
    if "version" in statement and (
        not isinstance(statement["version"], str)
        or not re.match(r"^(1\.0(\.\d+)?|2\.0(\.\d+)?)$", statement["version"])
    ):
        _fail(f"{path}.version", f"{statement['version']!r} is not a supported xAPI version (1.0.x, 2.0.x)")
    return statement
