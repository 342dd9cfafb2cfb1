"""Synthetic learning history: xAPI statements and LMS REST completions for the workforce.

Both views come from one enrollment history per worker (see :func:`_enrollments`),
so a statement and a REST completion of the same enrollment agree
(``context.registration == enrollment_id``). Rates, per enrollment unless noted:

- courses: ``SAFETY-100`` for 90% of workers; ``FORKLIFT-200`` for 60% of
  Warehouse/Logistics; ``HAZMAT-300`` for 50% of Manufacturing/Laboratory;
  ``CPR-101`` 25%; ``FIRSTAID-110`` 20%; ``FORKLIFT-210`` for 50% of those whose
  forklift licence is over two years old. Contractors take ``SAFETY-100`` only.
- scored courses: 80% pass, 7% fail only, 13% retake (fail, then pass on the
  same registration); 5% of passes are ``mastered``. Unscored: ``completed``.
- completion dates spread over the four years before the reference date, so
  courses with a 12-36 month validity are often lapsed (``expired``).
- 4% of statements arrive late: ``stored`` 3-30 days after ``timestamp``.
- 1% of enrollments are voided by a later ``voided`` statement.
- actors: 85% ``account``, 12% ``mbox`` (the work email as the HRIS holds it),
  3% ``mbox_sha1sum``; scores 50% ``scaled`` only, 50% ``raw``/``min``/``max``.
- REST export only: 5% of workers also have an in-progress (incomplete) enrollment.

``stored`` is the arrival time a seeding LRS should record; statements of one
worker come in ``stored`` order, workers in employee order. Timestamps derive
from :data:`~sandbox.synth.seeds.REFERENCE_INSTANT`, never the clock.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sandbox.synth.catalog import COURSES_BY_CODE, activity_id, lms_home_page
from sandbox.synth.seeds import REFERENCE_INSTANT, derive_seed, iso_z, record_random
from sandbox.synth.workforce import Workforce

VERB_BASE = "http://adlnet.gov/expapi/verbs/"
XAPI_VERSIONS = {"1.0.3": "1.0.3", "2.0": "2.0.0", "2.0.0": "2.0.0"}
_HISTORY_DAYS = 4 * 365
_LMS_ADMIN = "lms-admin"


@dataclass
class _Attempt:
    verb: str
    timestamp: datetime
    stored: datetime
    score: float | None
    statement_id: str
    late: bool


@dataclass
class _Enrollment:
    course_code: str
    registration: str
    actor_kind: str
    scaled_only: bool
    attempts: list[_Attempt] = field(default_factory=list)
    voided_at: datetime | None = None
    voiding_id: str | None = None
    outcome: str = ""


def _uuid(rng: Any) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _enrollments(tenant_id: str, seed: int, index: int, worker: dict[str, Any]) -> list[_Enrollment]:
    """The enrollment history of one worker, in a fixed order."""
    rng = record_random(derive_seed(tenant_id, seed, "learning"), index)
    employment = worker["employment"]
    utc = REFERENCE_INSTANT.tzinfo
    start = datetime.fromisoformat(employment["rehire_date"] or employment["hire_date"]).replace(tzinfo=utc)
    end = REFERENCE_INSTANT - timedelta(days=1)
    if employment["termination_date"] and not employment["rehire_date"]:
        end = datetime.fromisoformat(employment["termination_date"]).replace(tzinfo=utc)
    start = max(start, REFERENCE_INSTANT - timedelta(days=_HISTORY_DAYS))
    if end <= start:
        return []

    courses: list[str] = []
    if rng.random() < 0.9:
        courses.append("SAFETY-100")
    if employment["type"] == "employee":
        department = employment["department"]
        if department in ("Warehouse", "Logistics") and rng.random() < 0.6:
            courses.append("FORKLIFT-200")
        if department in ("Manufacturing", "Laboratory") and rng.random() < 0.5:
            courses.append("HAZMAT-300")
        if rng.random() < 0.25:
            courses.append("CPR-101")
        if rng.random() < 0.2:
            courses.append("FIRSTAID-110")

    span = (end - start).total_seconds()
    history: list[_Enrollment] = []
    for code in courses:
        when = start + timedelta(seconds=int(rng.random() * span))
        history.append(_enrollment(rng, code, when))
        forklift_age = REFERENCE_INSTANT - when
        if code == "FORKLIFT-200" and forklift_age > timedelta(days=730) and rng.random() < 0.5:
            recert = when + timedelta(days=730 + int(rng.random() * (forklift_age.days - 730)))
            history.append(_enrollment(rng, "FORKLIFT-210", min(recert, end)))
    return history


def _enrollment(rng: Any, code: str, when: datetime) -> _Enrollment:
    roll = rng.random()
    actor_kind = "account" if roll < 0.85 else "mbox" if roll < 0.97 else "mbox_sha1sum"
    enrollment = _Enrollment(code, _uuid(rng), actor_kind, scaled_only=rng.random() < 0.5)
    if not COURSES_BY_CODE[code].scored:
        verbs = ["completed"]
        enrollment.outcome = "completed"
    else:
        roll = rng.random()
        if roll < 0.80:
            verbs = ["mastered" if rng.random() < 0.05 else "passed"]
            enrollment.outcome = verbs[0]
        elif roll < 0.87:
            verbs = ["failed"]
            enrollment.outcome = "failed"
        else:
            verbs = ["failed", "passed"]
            enrollment.outcome = "retake"
    timestamp = when
    for position, verb in enumerate(verbs):
        if position:
            timestamp = timestamp + timedelta(days=1 + int(rng.random() * 20), seconds=int(rng.random() * 3600))
        score = None
        if verb in ("passed", "mastered"):
            score = 0.95 + rng.random() * 0.05 if verb == "mastered" else 0.7 + rng.random() * 0.25
        elif verb == "failed":
            score = 0.2 + rng.random() * 0.45
        late = rng.random() < 0.04
        delay = timedelta(days=3 + int(rng.random() * 28)) if late else timedelta(seconds=5 + int(rng.random() * 600))
        enrollment.attempts.append(_Attempt(verb, timestamp, timestamp + delay, score, _uuid(rng), late))
    if rng.random() < 0.01:
        enrollment.voided_at = enrollment.attempts[-1].stored + timedelta(days=1 + int(rng.random() * 5))
        enrollment.voiding_id = _uuid(rng)
    return enrollment


def _actor(tenant_id: str, worker: dict[str, Any], kind: str) -> dict[str, Any]:
    name = worker["name"]
    actor: dict[str, Any] = {"objectType": "Agent", "name": f"{name['preferred'] or name['given']} {name['family']}"}
    if kind == "account":
        actor["account"] = {"homePage": lms_home_page(tenant_id), "name": worker["employee_id"]}
    elif kind == "mbox":
        actor["mbox"] = f"mailto:{worker['emails']['work']}"
    else:
        actor["mbox_sha1sum"] = hashlib.sha1(f"mailto:{worker['emails']['work']}".encode()).hexdigest()  # noqa: S324 - xAPI defines it
    return actor


def _score(scaled: float, scaled_only: bool) -> dict[str, Any]:
    scaled = round(scaled, 2)
    if scaled_only:
        return {"scaled": scaled}
    return {"raw": round(scaled * 100), "min": 0, "max": 100}


def _statement(
    tenant_id: str, worker: dict[str, Any], enrollment: _Enrollment, attempt: _Attempt, version: str
) -> dict[str, Any]:
    course = COURSES_BY_CODE[enrollment.course_code]
    result: dict[str, Any] = {"completion": True}
    if attempt.verb != "completed":
        result["success"] = attempt.verb != "failed"
    if attempt.score is not None:
        result["score"] = _score(attempt.score, enrollment.scaled_only)
    return {
        "id": attempt.statement_id,
        "actor": _actor(tenant_id, worker, enrollment.actor_kind),
        "verb": {"id": VERB_BASE + attempt.verb, "display": {"en-US": attempt.verb}},
        "object": {
            "objectType": "Activity",
            "id": activity_id(tenant_id, course.course_code),
            "definition": {
                "name": {"en-US": course.title},
                "type": "http://adlnet.gov/expapi/activities/course",
            },
        },
        "result": result,
        "context": {"registration": enrollment.registration, "platform": f"lms.{tenant_id}.example"},
        "timestamp": iso_z(attempt.timestamp, millis=True),
        "stored": iso_z(attempt.stored, millis=True),
        "version": version,
    }


def _voiding_statement(tenant_id: str, enrollment: _Enrollment, version: str) -> dict[str, Any]:
    assert enrollment.voided_at is not None and enrollment.voiding_id is not None
    return {
        "id": enrollment.voiding_id,
        "actor": {"objectType": "Agent", "account": {"homePage": lms_home_page(tenant_id), "name": _LMS_ADMIN}},
        "verb": {"id": VERB_BASE + "voided", "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": enrollment.attempts[-1].statement_id},
        "timestamp": iso_z(enrollment.voided_at, millis=True),
        "stored": iso_z(enrollment.voided_at, millis=True),
        "version": version,
    }


def _iter_tagged_statements(
    tenant_id: str, workers: int, seed: int, version: str
) -> Iterator[tuple[dict[str, Any], frozenset[str]]]:
    if version not in XAPI_VERSIONS:
        raise ValueError(f"xAPI version must be one of {sorted(XAPI_VERSIONS)}, got {version!r}")
    statement_version = XAPI_VERSIONS[version]
    for index, worker, _ in Workforce(tenant_id, seed).iter_tagged(workers):
        tagged: list[tuple[datetime, dict[str, Any], frozenset[str]]] = []
        for enrollment in _enrollments(tenant_id, seed, index, worker):
            validity = COURSES_BY_CODE[enrollment.course_code].validity_months
            for position, attempt in enumerate(enrollment.attempts):
                tags = {attempt.verb, f"actor_{enrollment.actor_kind}"}
                if attempt.score is not None:
                    tags.add("scaled_score" if enrollment.scaled_only else "raw_score")
                if attempt.late:
                    tags.add("late")
                if enrollment.outcome == "retake" and position == len(enrollment.attempts) - 1:
                    tags.add("retake")
                if (
                    attempt.verb in ("passed", "mastered", "completed")
                    and validity
                    and attempt.timestamp + timedelta(days=validity * 30.4) < REFERENCE_INSTANT
                ):
                    tags.add("expired")
                if enrollment.voiding_id and position == len(enrollment.attempts) - 1:
                    tags.add("voided")
                statement = _statement(tenant_id, worker, enrollment, attempt, statement_version)
                tagged.append((attempt.stored, statement, frozenset(tags)))
            if enrollment.voiding_id:
                voiding = _voiding_statement(tenant_id, enrollment, statement_version)
                tagged.append((enrollment.voided_at, voiding, frozenset({"voiding"})))  # type: ignore[arg-type]
        tagged.sort(key=lambda item: (item[0], item[1]["id"]))
        for _, statement, tags in tagged:
            yield statement, tags


def iter_statements(tenant_id: str, workers: int, seed: int, version: str = "1.0.3") -> Iterator[dict[str, Any]]:
    """Stream the xAPI statements of the first ``workers`` workers (``version`` 1.0.3 or 2.0)."""
    for statement, _ in _iter_tagged_statements(tenant_id, workers, seed, version):
        yield statement


STATEMENT_CASES = (
    "passed", "failed", "mastered", "completed", "retake", "expired", "late", "voided", "voiding",
    "actor_account", "actor_mbox", "actor_mbox_sha1sum", "scaled_score", "raw_score",
)


def edge_case_statements(
    tenant_id: str, workers: int, seed: int, version: str = "1.0.3", limit: int = 5
) -> dict[str, list[str]]:
    """Up to ``limit`` statement ids per case in :data:`STATEMENT_CASES`.

    ``retake`` names the passing statement after a fail; ``voided`` the
    statement a ``voiding`` statement retracts; ``expired`` a success whose
    course validity has lapsed by the reference date.
    """
    found: dict[str, list[str]] = {case: [] for case in STATEMENT_CASES}
    for statement, tags in _iter_tagged_statements(tenant_id, workers, seed, version):
        for tag in tags:
            if len(found[tag]) < limit:
                found[tag].append(statement["id"])
        if all(len(ids) >= limit for ids in found.values()):
            break
    return found


def iter_rest_completions(tenant_id: str, workers: int, seed: int) -> Iterator[dict[str, Any]]:
    """Stream LMS REST (SCORM-style) completion items, one per enrollment, in the contract shape.

    A voided enrollment shows as ``incomplete`` (the LMS retracted it); some
    workers also have an in-progress enrollment that only this export knows.
    """
    for index, worker, _ in Workforce(tenant_id, seed).iter_tagged(workers):
        for enrollment in _enrollments(tenant_id, seed, index, worker):
            last = enrollment.attempts[-1]
            item: dict[str, Any] = {
                "enrollment_id": enrollment.registration,
                "user_external_id": worker["employee_id"],
                "course_code": enrollment.course_code,
                "completion_status": "completed",
                "success_status": {"failed": "failed", "completed": "unknown"}.get(last.verb, "passed"),
                "score": None,
                "completed_at": iso_z(last.timestamp),
                "updated_at": iso_z(last.stored),
            }
            if last.score is not None:
                scaled = round(last.score, 2)
                item["score"] = {"raw": round(scaled * 100), "min": 0, "max": 100, "scaled": scaled}
            if enrollment.voided_at is not None:
                item.update(completion_status="incomplete", success_status="unknown", score=None,
                            completed_at=None, updated_at=iso_z(enrollment.voided_at))
            yield item
        rng = record_random(derive_seed(tenant_id, seed, "in-progress"), index)
        if worker["employment"]["status"] == "active" and rng.random() < 0.05:
            started = REFERENCE_INSTANT - timedelta(days=1 + int(rng.random() * 60))
            yield {
                "enrollment_id": _uuid(rng),
                "user_external_id": worker["employee_id"],
                "course_code": "CPR-101" if rng.random() < 0.5 else "FIRSTAID-110",
                "completion_status": "incomplete",
                "success_status": "unknown",
                "score": None,
                "completed_at": None,
                "updated_at": iso_z(started),
            }


#: The course of the live completions (credential rule CPR-AED: pass mark 80, two years valid).
LIVE_COURSE = "CPR-101"
#: Edge cases a live completion avoids: people without a current job, or whose identity is ambiguous.
_LIVE_SKIP = frozenset({"terminated", "leave", "contractor", "acquired", "duplicate_email", "cross_source_duplicate"})


def iter_live_statements(
    tenant_id: str, workers: int, seed: int, *, now: datetime, count: int,
    window: timedelta = timedelta(minutes=15), version: str = "1.0.3",
) -> Iterator[dict[str, Any]]:
    """``count`` CPR passes completed in the ``window`` before ``now``: the morning's new completions.

    The history (:func:`iter_statements`) ends a day before the reference date, so everything in it
    is a first load, never a delivery latency. These are what an LMS sends as people finish
    courses: ``timestamp`` (the completion) lies in the window before ``now``; ``stored`` is left to
    the LRS (the moment it receives them). Each goes to an active employee of the first ``workers``
    with no CPR enrollment in their history, so it earns a new credential. The caller passes
    ``now`` (this module never reads the clock): the same arguments give the same statements, ids
    included, so seeding them again adds nothing.
    """
    if count <= 0:
        return
    statement_version = XAPI_VERSIONS[version]
    workforce = Workforce(tenant_id, seed)
    candidates = [
        index for index, worker, tags in workforce.iter_tagged(workers)
        if not tags & _LIVE_SKIP and worker["employment"]["status"] == "active"
        and not any(e.course_code == LIVE_COURSE for e in _enrollments(tenant_id, seed, index, worker))
    ]
    rng = record_random(derive_seed(tenant_id, seed, "live"), int(now.timestamp()))
    # Spread over the workforce, not its first rows; in workforce order.
    for index in sorted(rng.sample(candidates, min(count, len(candidates)))):
        worker, _ = workforce.tagged_worker(index)
        completed = now - timedelta(seconds=30 + int(rng.random() * (window.total_seconds() - 30)))
        enrollment = _Enrollment(LIVE_COURSE, _uuid(rng), "account", scaled_only=False)
        attempt = _Attempt("passed", completed, completed, 0.8 + rng.random() * 0.19, _uuid(rng), late=False)
        statement = _statement(tenant_id, worker, enrollment, attempt, statement_version)
        del statement["stored"]
        yield statement
