"""xAPI statements and LMS REST completions → one staged completion shape.

Field extraction goes through the versioned mappings
(``include/mappings/xapi_statement_v1.csv``, ``lms_completion_v1.csv``); this
module adds what a flat mapping cannot say: which verb, which course, who the
actor is, and the row-level checks whose failure quarantines a record (with a
rule name and reason) instead of dropping it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from credsync.mapping import MappingError, load_mapping
from credsync.mapping.transforms import lowercase_email, strip_email_alias

XAPI_MAPPING = ("xapi_statement", "v1")
LMS_MAPPING = ("lms_completion", "v1")
KNOWN_VERBS = ("completed", "passed", "failed", "mastered", "voided")
SUCCESS_VERBS = frozenset({"completed", "passed", "mastered"})
# ADL verbs as xAPI 1.0.3 names them, and the w3id.org IRIs 2.0-era profiles use.
VERB_BASES = ("http://adlnet.gov/expapi/verbs/", "https://w3id.org/xapi/adl/verbs/")
# Clocks drift; a statement a few minutes "in the future" is skew, not a bad record.
FUTURE_SKEW = timedelta(minutes=5)
_SHA1_HEX = re.compile(r"^[0-9a-f]{40}$")
# A mapping error on these target fields is a named rule; any other is a plain mapping error.
_RULE_FOR_FIELD = {"score": "score_in_range", "completed_at": "timestamp_valid", "stored_at": "timestamp_valid"}


@dataclass
class StagedCompletion:
    """One row of ``staging.completions``; ``quarantine_rule`` set means it is rejected."""

    row_number: int
    source: str  # xapi | lms_rest
    source_id: str | None
    actor_key: str | None
    course_code: str | None
    verb: str | None
    voids_source_id: str | None
    success: bool | None
    score: float | None
    completed_at: datetime | None
    stored_at: datetime | None
    registration: str | None
    raw: Mapping[str, Any]
    mapping_version: str
    quarantine_rule: str | None = None
    quarantine_reason: str | None = None

    def reject(self, rule: str, reason: str) -> StagedCompletion:
        if self.quarantine_rule is None:  # the first failed rule is the one reported
            self.quarantine_rule, self.quarantine_reason = rule, reason
        return self


def course_activity_prefix(tenant_id: str) -> str:
    return f"https://lms.{tenant_id}.example/courses/"


def lms_home_page(tenant_id: str) -> str:
    return f"https://lms.{tenant_id}.example"


def normalise_email(value: str) -> str | None:
    """The same normalisation core.workers.email_normalized uses (lowercase, +alias stripped)."""
    return strip_email_alias(lowercase_email(value.removeprefix("mailto:")))


def normalise_statement(
    statement: Mapping[str, Any], *, tenant_id: str, row_number: int, now: datetime | None = None
) -> StagedCompletion:
    """One xAPI statement (1.0.3 or 2.0) as a staged completion, quarantined if it breaks a rule."""
    mapping = load_mapping(*XAPI_MAPPING)
    key = str(statement.get("id")) if isinstance(statement, Mapping) and statement.get("id") else None
    staged = StagedCompletion(
        row_number=row_number, source="xapi", source_id=key, actor_key=None, course_code=None, verb=None,
        voids_source_id=None, success=None, score=None, completed_at=None, stored_at=None, registration=None,
        raw=statement, mapping_version=mapping.mapping_version,
    )
    try:
        row = mapping.apply(statement, record_number=row_number, record_key=key)
    except MappingError as exc:
        return staged.reject(_RULE_FOR_FIELD.get(exc.field or "", "mapping"), str(exc))
    staged.source_id = row["source_id"]
    staged.score = row["score"]
    staged.stored_at = row["stored_at"]
    staged.completed_at = row["completed_at"] or row["stored_at"]
    staged.registration = row["registration"]
    staged.verb = _verb(row["verb_id"])
    if staged.verb is None:
        return staged.reject("known_verb", f"verb {row['verb_id']!r} is not one of {', '.join(KNOWN_VERBS)}")
    if staged.verb == "voided":
        if row["object_type"] != "StatementRef":
            return staged.reject("voiding_target", "a voided statement must target a StatementRef")
        staged.voids_source_id = row["object_id"]
        return staged  # the authority voids; no learner, course or score to check
    staged.actor_key = _actor_key(row, tenant_id)
    if staged.actor_key is None:
        return staged.reject("actor_present", "actor has no usable account (tenant LMS), mbox or mbox_sha1sum")
    prefix = course_activity_prefix(tenant_id)
    if not row["object_id"].startswith(prefix) or len(row["object_id"]) == len(prefix):
        return staged.reject("course_activity", f"object {row['object_id']!r} is not a course of {prefix}")
    staged.course_code = row["object_id"][len(prefix):].strip("/")
    staged.success = _success(staged.verb, row["success"])
    return _check_time(staged, now)


def normalise_lms_completion(
    item: Mapping[str, Any], *, row_number: int, now: datetime | None = None
) -> StagedCompletion | None:
    """One LMS REST completion as a staged completion; None while it is not completed.

    An in-progress enrollment is not a completion yet: it is skipped, and comes
    back in a later pull when its ``updated_at`` moves.
    """
    mapping = load_mapping(*LMS_MAPPING)
    key = str(item.get("enrollment_id")) if isinstance(item, Mapping) and item.get("enrollment_id") else None
    staged = StagedCompletion(
        row_number=row_number, source="lms_rest", source_id=key, actor_key=None, course_code=None, verb=None,
        voids_source_id=None, success=None, score=None, completed_at=None, stored_at=None, registration=key,
        raw=item, mapping_version=mapping.mapping_version,
    )
    try:
        row = mapping.apply(item, record_number=row_number, record_key=key)
    except MappingError as exc:
        return staged.reject(_RULE_FOR_FIELD.get(exc.field or "", "mapping"), str(exc))
    if row["completion_status"] != "completed":
        return None
    staged.source_id = row["source_id"]
    staged.actor_key = f"account:{row['actor_account_name']}"
    staged.course_code = row["course_code"]
    staged.score = row["score"]
    staged.stored_at = row["stored_at"]
    staged.completed_at = row["completed_at"]
    if staged.completed_at is None:
        return staged.reject("timestamp_valid", "completed enrollment has no completed_at")
    staged.verb = {"passed": "passed", "failed": "failed"}.get(row["success_status"] or "", "completed")
    staged.success = staged.verb != "failed"
    return _check_time(staged, now)


def _verb(verb_id: str) -> str | None:
    for base in VERB_BASES:
        if verb_id.startswith(base) and verb_id[len(base):] in KNOWN_VERBS:
            return verb_id[len(base):]
    return None


def _actor_key(row: Mapping[str, Any], tenant_id: str) -> str | None:
    """How the statement names the learner: ``account:<employee_id>``, ``mbox:<email>`` or ``sha1:<hex>``."""
    name, home = row["actor_account_name"], row["actor_account_home_page"]
    if name and home and home.rstrip("/") == lms_home_page(tenant_id):
        return f"account:{name}"
    if row["actor_mbox"]:
        email = normalise_email(row["actor_mbox"])
        return f"mbox:{email}" if email and "@" in email else None
    sha1 = (row["actor_mbox_sha1sum"] or "").lower()
    if _SHA1_HEX.match(sha1):
        return f"sha1:{sha1}"
    return None


def _success(verb: str, reported: bool | None) -> bool:
    # The verb is the LMS's verdict; result.success can only withdraw a pass, never grant one.
    return verb in SUCCESS_VERBS and reported is not False


def _check_time(staged: StagedCompletion, now: datetime | None) -> StagedCompletion:
    limit = (now or datetime.now(UTC)) + FUTURE_SKEW
    if staged.completed_at is not None and staged.completed_at > limit:
        return staged.reject("timestamp_not_future", f"completed_at {staged.completed_at.isoformat()} is in the future")
    return staged
