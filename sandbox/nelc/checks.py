"""The national LRS's own reading of NELC's validation checklist (independent of credsync's client code).

One :class:`Ledger` per platform holds what the LRS stored; :meth:`Ledger.check` names the first
rule a statement breaks, with the same rule names as NELC's checklist items (see the app's docstring).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

VERB = "http://adlnet.gov/expapi/verbs/"
VERBS = {VERB + "registered": "registered", VERB + "initialized": "initialized", VERB + "completed": "completed",
         VERB + "attended": "attended", VERB + "progressed": "progressed", VERB + "attempted": "attempted",
         "https://w3id.org/xapi/acrossx/verbs/watched": "watched", "http://id.tincanapi.com/verb/rated": "rated",
         "http://id.tincanapi.com/verb/earned": "earned"}
COURSE_TYPE = "https://w3id.org/xapi/cmi5/activitytype/course"
TYPE_OF = {"registered": {COURSE_TYPE}, "initialized": {COURSE_TYPE}, "progressed": {COURSE_TYPE},
           "attempted": {"http://id.tincanapi.com/activitytype/unit-test"},
           "watched": {"https://w3id.org/xapi/video/activity-type/video"},
           "earned": {"https://www.opigno.org/en/tincan_registry/activity_type/certificate"}}
NELC = "https://nelc.gov.sa/extensions/"
TINCAN = "http://id.tincanapi.com/extension/"
ATTEMPT_ID, CERT_LOCATION = TINCAN + "attempt-id", TINCAN + "jws-certificate-location"
EVERYWHERE = {NELC + "platform"}
ONLY_IN = {
    "registered": {NELC + "lms_url", NELC + "program_url", NELC + "duration", NELC + "learner_full_name",
                   NELC + "program_id", NELC + "learner_mobile_no", NELC + "learner_nationality",
                   NELC + "date_of_birth", NELC + "education_level", NELC + "education_year", NELC + "semester"},
    "attempted": {ATTEMPT_ID, TINCAN + "browser-info"},
    "earned": {CERT_LOCATION, NELC + "program_id"},
    "watched": {TINCAN + "browser-info"}, "completed": {TINCAN + "browser-info"}, "attended": {TINCAN + "browser-info"},
}
NATIONAL_ID = re.compile(r"^[124][0-9]{9}$")


def national_id_ok(value: str) -> bool:
    if not NATIONAL_ID.match(value):
        return False
    if value[0] == "4":
        return True  # NELC accepts 4...; no published check digit for it
    total = 0
    for position, char in enumerate(value):
        digit = int(char)
        if position % 2 == 0:  # from the left: 1st, 3rd, ... doubled (Luhn over 10 digits)
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def digest(statement: dict[str, Any]) -> str:
    body = {k: v for k, v in statement.items() if k not in ("id", "stored", "authority", "version")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass
class Ledger:
    platform: str
    hashes: dict[str, str] = field(default_factory=dict)
    seen: dict[tuple, str] = field(default_factory=dict)
    registered: set[tuple[str, str]] = field(default_factory=set)
    progress: dict[tuple[str, str], float] = field(default_factory=dict)
    attempts: dict[tuple[str, str], int] = field(default_factory=dict)
    certificates: dict[str, str] = field(default_factory=dict)

    def check(self, s: dict[str, Any]) -> tuple[str, str] | None:
        """(rule, detail) of the first checklist item ``s`` breaks, or None."""
        actor = str((s.get("actor") or {}).get("name") or "")
        verb = VERBS.get((s.get("verb") or {}).get("id"))
        obj = s.get("object") or {}
        kind = (obj.get("definition") or {}).get("type")
        context = s.get("context") or {}
        ext = context.get("extensions") or {}
        parents = (context.get("contextActivities") or {}).get("parent") or [{}]
        course = obj.get("id") if kind == COURSE_TYPE else parents[0].get("id")
        if not national_id_ok(actor):
            return "national_id_invalid", f"actor.name {actor!r} is not a valid National ID / Iqama"
        if verb is None:
            return "verb_not_nelc", "the verb is not one of NELC's"
        if verb in TYPE_OF and kind not in TYPE_OF[verb]:
            return "object_type_mismatch", f"{verb} on {kind}"
        if context.get("platform") != self.platform:
            return "platform_mismatch", f"platform must be {self.platform}"
        if verb != "registered" and (actor, course) not in self.registered:
            return "registration_missing", f"{actor} never registered for {course}"
        score = ((s.get("result") or {}).get("score") or {}).get("scaled")
        key = (actor, verb, obj.get("id"), ext.get(ATTEMPT_ID), score if verb == "progressed" else None)
        if key in self.seen:
            return "duplicate_statement", f"already received as {self.seen[key]}"
        if verb == "progressed" and (not isinstance(score, int | float) or score <= self.progress.get(
                (actor, course), -1.0)):
            return "progress_not_forward", f"progress {score} is not above {self.progress.get((actor, course))}"
        if verb == "attempted" and ext.get(ATTEMPT_ID) != self.attempts.get((actor, obj.get("id")), 0) + 1:
            return "attempt_id_not_sequential", f"attempt-id {ext.get(ATTEMPT_ID)!r} out of sequence"
        stray = sorted(set(ext) - EVERYWHERE - ONLY_IN.get(verb, set()))
        if stray:
            return "extension_not_allowed", f"{verb} may not carry {', '.join(stray)}"
        if verb == "earned":
            url = ext.get(CERT_LOCATION)
            if not url:
                return "certificate_location_missing", "earned needs jws-certificate-location"
            if url == obj.get("id"):
                return "certificate_id_is_url", "certificate id and certificate URL must differ"
            owners = {self.certificates.get(url), self.certificates.get(obj.get("id"))} - {None, actor}
            if "{" in str(url) or owners:
                return "certificate_is_template", "the certificate must be the learner's own copy"
        return None

    def store(self, s: dict[str, Any]) -> None:
        actor = str(s["actor"].get("name"))
        verb = VERBS[s["verb"]["id"]]
        obj = s["object"]
        context = s.get("context") or {}
        ext = context.get("extensions") or {}
        kind = (obj.get("definition") or {}).get("type")
        parents = (context.get("contextActivities") or {}).get("parent") or [{}]
        course = obj.get("id") if kind == COURSE_TYPE else parents[0].get("id")
        score = ((s.get("result") or {}).get("score") or {}).get("scaled")
        self.hashes[s["id"]] = digest(s)
        self.seen[(actor, verb, obj.get("id"), ext.get(ATTEMPT_ID), score if verb == "progressed" else None)] = s["id"]
        if verb == "registered":
            self.registered.add((actor, course))
        if verb == "progressed":
            self.progress[(actor, course)] = float(score)
        if verb == "attempted":
            self.attempts[(actor, obj.get("id"))] = int(ext[ATTEMPT_ID])
        if verb == "earned":
            self.certificates.setdefault(ext[CERT_LOCATION], actor)
            self.certificates.setdefault(obj.get("id"), actor)
