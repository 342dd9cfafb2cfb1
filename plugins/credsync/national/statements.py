"""NELC xAPI statements from what credsync holds: completions and credentials of learners with a national id.

credsync is not the LMS: it holds completion records and credentials, not clicks. So one learner's
journey in a course is, in this order (each statement timed by the record it comes from):

- ``registered`` the course (at the first record of it), carrying the registration-only extensions:
  lms_url, program_url, the learner's full name (Arabic when the HRIS holds one) and the platform;
- ``attempted`` the course's final exam for each scored record, ``attempt-id`` 1, 2, 3...;
- on the first passing record ``progressed`` (scaled 1.0) and ``completed`` the course;
- ``earned`` each active credential: the object is that learner's own certificate
  (``{lms_url}/course/{course}/certificate/{award_id}``) and ``jws-certificate-location`` its public
  URL (the profile's ``certificate_url``), never the achievement (template).

The actor is the National ID / Iqama only (``name`` and ``account.name``): no email leaves. Personal
fields go through include/mappings/national_lrs_statement_v1.csv, so they are minimised and pass
the same hostile-input guards as every mapping (control and bidi characters, mixed scripts, NUL).
Statement ids are UUIDv5 of what a statement is about, so a rebuild yields the same ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from credsync.credentials.rules import CredentialRule
from credsync.mapping import MappingError, load_mapping
from credsync.national.vocabulary import (
    CERTIFICATE,
    COURSE,
    EXT_ATTEMPT_ID,
    EXT_JWS_CERTIFICATE,
    EXT_LEARNER_FULL_NAME,
    EXT_LMS_URL,
    EXT_PLATFORM,
    EXT_PROGRAM_URL,
    UNIT_TEST,
    VERBS,
)
from credsync.national_profile import NationalProfile

NAMESPACE = uuid.UUID("6f1c9a52-3c1e-5b8e-9d0e-1a2b3c4d5e6f")
MAPPING_NAME, MAPPING_VERSION = "national_lrs_statement", "v1"


@dataclass(frozen=True)
class Course:
    code: str
    name: str
    description: str
    min_score: float | None


@dataclass
class Built:
    """Statements built for a tenant, and the learners whose personal fields the mapping refused."""

    statements: list[dict[str, Any]] = field(default_factory=list)
    refused_learners: list[tuple[str, str, str]] = field(default_factory=list)  # employee_id, rule, error


def courses_from_rules(rules: Iterable[CredentialRule]) -> dict[str, Course]:
    """Course names and descriptions from the credential rules (a single-course rule names its course)."""
    out: dict[str, Course] = {}
    for rule in sorted(rules, key=lambda r: (len(r.course_codes), r.rule_id)):
        for code in rule.course_codes:
            out.setdefault(code, Course(code, rule.achievement_name, rule.notes or rule.achievement_name,
                                        rule.min_score))
    return out


def template_ids(profile: NationalProfile, rules: Iterable[CredentialRule]) -> set[str]:
    """Ids a certificate must never be: the achievement (master) of each credential type."""
    out = {profile.certificate_url}
    for rule in rules:
        for code in rule.course_codes:
            out.add(f"{profile.lms_url}/course/{code}/certificate/{rule.credential_type}")
    return out


def statement_id(tenant_id: str, *parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "|".join([tenant_id, *map(str, parts)])))


def build(tenant_id: str, profile: NationalProfile, completions: Iterable[dict[str, Any]],
          credentials: Iterable[dict[str, Any]], rules: list[CredentialRule]) -> Built:
    mapping = load_mapping(MAPPING_NAME, MAPPING_VERSION)
    courses = courses_from_rules(rules)
    rule_by_id = {r.rule_id: r for r in rules}
    rule_by_type = {r.credential_type: r for r in rules}
    built = Built()
    people: dict[str, dict[str, Any] | None] = {}
    journeys: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in completions:
        journeys.setdefault((row["employee_id"], row["course_code"]), []).append(row)
        if row["employee_id"] not in people:
            people[row["employee_id"]] = _person(mapping, row, built)
    builder = _Builder(tenant_id, profile, courses)
    for (employee_id, code), rows in journeys.items():
        person = people[employee_id]
        if person is not None:
            built.statements += builder.journey(person, courses.get(code) or Course(code, code, "", None), rows)
    for cred in credentials:
        person = people.get(cred["employee_id"])
        rule = rule_by_id.get(cred.get("rule_id")) or rule_by_type.get(cred["credential_type"])
        if person is None or rule is None:
            continue  # no learning record of this learner here, or a type no rule knows: nothing to earn
        built.statements.append(builder.earned(person, rule, cred))
    return built


def _person(mapping: Any, row: dict[str, Any], built: Built) -> dict[str, Any] | None:
    arabic = " ".join(p for p in (row.get("given_name_ar"), row.get("family_name_ar")) if p) or None
    record = {"worker": {"national_id": row["national_id"], "legal_name_ar": arabic,
                         "legal_name": f"{row['given_name']} {row['family_name']}"}}
    try:
        return mapping.apply(record, record_key=row["employee_id"])
    except MappingError as err:
        built.refused_learners.append((row["employee_id"], getattr(err, "rule", None) or "mapping", str(err)))
        return None


class _Builder:
    def __init__(self, tenant_id: str, profile: NationalProfile, courses: dict[str, Course]) -> None:
        self.tenant_id, self.profile, self.courses = tenant_id, profile, courses

    def _base(self, person: dict[str, Any], verb: str, obj: dict[str, Any], when: datetime,
              extensions: dict[str, Any] | None = None, parent: dict[str, Any] | None = None,
              result: dict[str, Any] | None = None, key: tuple[object, ...] = ()) -> dict[str, Any]:
        nid = person["actor_name"]
        context: dict[str, Any] = {
            "platform": self.profile.platform, "language": self.profile.language,
            "extensions": {EXT_PLATFORM: {"name": dict(self.profile.platform_name)}, **(extensions or {})},
        }
        if parent is not None:
            context["contextActivities"] = {"parent": [parent]}
        statement = {
            "id": statement_id(self.tenant_id, nid, verb, obj["id"], *key),
            "actor": {"objectType": "Agent", "name": nid, "account": {"homePage": self.profile.lms_url, "name": nid}},
            "verb": {"id": VERBS[verb], "display": {"en-US": verb}},
            "object": obj, "context": context, "timestamp": _timestamp(when),
        }
        if result is not None:
            statement["result"] = result
        return statement

    def _course(self, course: Course, *, described: bool) -> dict[str, Any]:
        lang = self.profile.language
        return {"objectType": "Activity", "id": f"{self.profile.lms_url}/course/{course.code}",
                "definition": {"name": {lang: course.name},
                               "description": {lang: course.description if described else ""}, "type": COURSE}}

    def journey(self, person: dict[str, Any], course: Course, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        lang = self.profile.language
        first = rows[0]["completed_at"]
        full_name = person.get("learner_full_name_ar") or person["learner_full_name_en"]
        out = [self._base(person, "registered", self._course(course, described=True), first, extensions={
            EXT_LMS_URL: self.profile.lms_url, EXT_PROGRAM_URL: f"{self.profile.lms_url}/course/{course.code}",
            EXT_LEARNER_FULL_NAME: full_name})]
        parent = self._course(course, described=False)
        exam = {"objectType": "Activity", "id": f"{self.profile.lms_url}/course/{course.code}/exam/final",
                "definition": {"name": {lang: f"{course.name} - final exam"},
                               "description": {lang: f"Final exam of {course.name}"}, "type": UNIT_TEST}}
        attempt = 0
        passed = False
        for row in rows:
            if row.get("score") is not None:
                attempt += 1
                raw = float(row["score"])
                minimum = float(course.min_score) if course.min_score is not None else 0.0
                out.append(self._base(person, "attempted", exam, row["completed_at"], parent=parent,
                                      extensions={EXT_ATTEMPT_ID: attempt}, key=(attempt,), result={
                                          "score": {"raw": raw, "min": minimum, "max": 100.0,
                                                    "scaled": round(raw / 100.0, 4)},
                                          "success": bool(row["success"]) and raw >= minimum, "completion": False}))
            if row["success"] and not passed:
                passed = True
                out.append(self._base(person, "progressed", parent, row["completed_at"], key=(1.0,),
                                      result={"score": {"scaled": 1.0}, "completion": True}))
                out.append(self._base(person, "completed", parent, row["completed_at"],
                                      result={"completion": True}))
        return out

    def earned(self, person: dict[str, Any], rule: CredentialRule, cred: dict[str, Any]) -> dict[str, Any]:
        award = str(cred["award_id"])
        code = rule.course_codes[0]
        course = self.courses.get(code) or Course(code, rule.achievement_name, "", rule.min_score)
        certificate = {"objectType": "Activity",
                       "id": f"{self.profile.lms_url}/course/{code}/certificate/{award}",
                       "definition": {"name": {self.profile.language: f"{rule.achievement_name} certificate"},
                                      "type": CERTIFICATE}}
        return self._base(person, "earned", certificate, cred["created_at"],
                          parent=self._course(course, described=False),
                          extensions={EXT_JWS_CERTIFICATE: self.profile.certificate_location(award)})


def _timestamp(when: datetime) -> str:
    """NELC's form: UTC with milliseconds, ``2022-01-31T07:18:32.829Z``."""
    moment = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
