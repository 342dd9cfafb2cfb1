"""Issue 5 on the synthetic history itself: pass, fail, retake, voided, late and expired cases.

The HRIS and LRS sandboxes are seeded with the same synthetic tenant (``SANDBOX_SEED``, as the
launcher passes it). Workers go through the HRIS export → gate → merge, the learning history through
the LRS statements and LMS REST export → stage → GX gate → merge, over real HTTP into a real
Postgres; then issuance runs once with the real rules as of the generator's reference date.
Each case is picked by the tags the generator puts on its own statements, and the assertions are
on what a user checks: ``core.credentials`` and ``core.credential_decisions``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from typing import Any

import pytest

from credsync.credentials.issuance import issue_credentials
from credsync.credentials.keys import generate_signing_key, parse_signing_key
from credsync.credentials.rules import CredentialRule, load_rules
from credsync.hooks.hris import HrisHook
from credsync.hooks.lms import LmsHook
from credsync.hooks.lrs import LrsHook
from credsync.ingest.gate import gate_batch
from credsync.ingest.watermarks import current_watermark
from credsync.learning.merge import merge_completions
from credsync.learning.normalise import normalise_email
from credsync.learning.pull import LMS_STREAM, LRS_STREAM, stage_pull
from credsync.learning.quality import CompletionGateThresholds, completion_gate
from credsync.people import flow
from credsync.warehouse import connect, migrate
from sandbox.synth.learning import STATEMENT_CASES, _iter_tagged_statements, edge_case_statements, iter_rest_completions
from sandbox.synth.seeds import REFERENCE_DATE
from sandbox.synth.workforce import iter_workers

pytestmark = pytest.mark.slow

TENANT = "acme"
# Small enough for ~10 s of pipeline, large enough that every case below occurs (asserted per test).
WORKERS = 400
SEED = 1
AS_OF = REFERENCE_DATE  # the synthetic "today": every generated timestamp lies before it
SUCCESS_VERBS = ("passed", "mastered", "completed")
CASES = ("passed", "failed", "mastered", "completed", "retake", "late", "expired", "voided", "voiding")


@dataclass(frozen=True)
class Attempt:
    """One synthetic learning statement, with the generator's case tags and its ground truth."""

    statement_id: str
    registration: str
    employee_id: str
    course_code: str
    verb: str
    score: float | None
    timestamp: datetime
    stored: datetime
    tags: frozenset[str]

    @property
    def evidence_keys(self) -> set[str]:
        """How issuance would name this attempt's enrollment as evidence: the statement, or its LMS REST twin."""
        return {f"xapi:{self.statement_id}", f"lms_rest:{self.registration}"}


@dataclass(frozen=True)
class Credential:
    credential_id: str
    employee_id: str
    credential_type: str
    status: str
    rule_id: str
    rule_version: str
    issue_date: date
    expiry_date: date
    evidence_key: frozenset[str]
    items: tuple[dict[str, Any], ...]


@dataclass(frozen=True)
class Decision:
    employee_id: str
    credential_type: str
    decision: str
    rule_id: str
    rule_version: str
    evidence_key: frozenset[str]
    items: tuple[dict[str, Any], ...]
    credential_id: str | None


@dataclass
class History:
    """The synthetic history as generated, and the warehouse after one pull + issuance."""

    attempts: list[Attempt]
    voided_by: dict[str, str]  # voided statement id -> voiding statement id
    hris_status: dict[str, str]  # employee_id -> status, as the generator made it
    shared_email: set[str]  # employee_ids whose work email (normalised) another worker also has
    workers: dict[str, str]  # employee_id -> employment_status in core.workers
    completions: dict[tuple[str, str], dict[str, Any]]
    held: set[str]
    voided_statements: set[str]
    credentials: list[Credential]
    decisions: list[Decision]
    rules: list[CredentialRule]

    def __repr__(self) -> str:
        return (f"History({len(self.attempts)} statements, {len(self.workers)} workers,"
                f" {len(self.credentials)} credentials, {len(self.decisions)} decisions)")

    def rule_for(self, course_code: str) -> CredentialRule:
        [rule] = [r for r in self.rules if r.course_codes == (course_code,)]
        return rule

    def sole_rule_of_its_type(self, rule: CredentialRule) -> bool:
        return sum(r.credential_type == rule.credential_type for r in self.rules) == 1

    def credentials_of(self, employee_id: str, credential_type: str, status: str | None = None) -> list[Credential]:
        return [c for c in self.credentials if c.employee_id == employee_id and c.credential_type == credential_type
                and (status is None or c.status == status)]

    def sole_active(self, employee_id: str, credential_type: str, attempt: Attempt) -> Credential:
        active = self.credentials_of(employee_id, credential_type, "active")
        decided = [d for d in self.decisions if (d.employee_id, d.credential_type) == (employee_id, credential_type)]
        assert len(active) == 1, (f"{employee_id} {credential_type}: {len(active)} active credentials, expected one"
                                  f" from {attempt}; decisions: {decided}")
        return active[0]

    @cached_property
    def evidence_in_use(self) -> set[str]:
        """Every evidence key named by any credential (any status) or decision."""
        return {key for row in [*self.credentials, *self.decisions] for key in row.evidence_key}

    @cached_property
    def active_evidence(self) -> set[str]:
        return {key for c in self.credentials if c.status == "active" for key in c.evidence_key}

    @cached_property
    def voided_registrations(self) -> set[str]:
        return {a.registration for a in self.attempts if "voided" in a.tags}

    def employed(self, employee_id: str) -> bool:
        return self.workers.get(employee_id) in ("active", "leave")

    def qualifies(self, attempt: Attempt, rule: CredentialRule) -> bool:
        """Meets the rule's pass mark on its own (success verb, score >= min_score)."""
        return attempt.verb in SUCCESS_VERBS and (
            rule.min_score is None or (attempt.score is not None and attempt.score >= rule.min_score))

    def issuable(self, attempt: Attempt) -> bool:
        """What a first issue needs: a qualifying, not voided, unexpired attempt of an employed worker,
        under a rule with no prerequisite credential."""
        rule = self.rule_for(attempt.course_code)
        return (self.qualifies(attempt, rule) and rule.requires_credential is None
                and attempt.registration not in self.voided_registrations
                and self.employed(attempt.employee_id) and natural_expiry(attempt, rule) > AS_OF)


def natural_expiry(attempt: Attempt, rule: CredentialRule) -> date:
    """Validity counted from the completion's timestamp (UTC date), as docs/credentials.md says."""
    return attempt.timestamp.astimezone(UTC).date() + timedelta(days=rule.validity_days)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def expected_score(statement: dict[str, Any]) -> float | None:
    score = statement.get("result", {}).get("score")
    if score is None:
        return None
    if "scaled" in score:
        return round(score["scaled"] * 100, 2)
    return round((score["raw"] - score["min"]) / (score["max"] - score["min"]) * 100, 2)


def synthetic_attempts() -> tuple[list[Attempt], dict[str, str]]:
    """The generator's statements with its tags; who each belongs to comes from its LMS REST enrollment."""
    owner = {item["enrollment_id"]: item["user_external_id"] for item in iter_rest_completions(TENANT, WORKERS, SEED)}
    attempts: list[Attempt] = []
    voided_by: dict[str, str] = {}
    for statement, tags in _iter_tagged_statements(TENANT, WORKERS, SEED, "1.0.3"):
        if "voiding" in tags:
            voided_by[statement["object"]["id"]] = statement["id"]
            continue
        registration = statement["context"]["registration"]
        attempts.append(Attempt(
            statement_id=statement["id"], registration=registration, employee_id=owner[registration],
            course_code=statement["object"]["id"].rsplit("/", 1)[1],
            verb=statement["verb"]["id"].rsplit("/", 1)[1], score=expected_score(statement),
            timestamp=parse_time(statement["timestamp"]), stored=parse_time(statement["stored"]), tags=tags,
        ))
    return attempts, voided_by


def http_connection(port: int, **fields: object) -> str:
    return json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", **fields})


@pytest.fixture(scope="module")
def seeded_sandboxes(tmp_path_factory) -> Iterator[Any]:
    """Private HRIS + LRS sandboxes, each seeding the same synthetic tenant at start."""
    from sandbox.launcher import generate_secrets, start_all

    env = generate_secrets(["acme", "globex"])
    env["SANDBOX_SEED"] = json.dumps({"tenants": {TENANT: {"workers": WORKERS, "seed": SEED}}})
    with start_all(tmp_path_factory.mktemp("synthetic"), env=env, names=["hris", "lrs"]) as running:
        yield running


@pytest.fixture(scope="module")
def history(seeded_sandboxes, postgres_server) -> Iterator[History]:
    """One pass of the pipeline over the synthetic history into a database of this module's own."""
    env = seeded_sandboxes.env
    lrs_port = int(seeded_sandboxes.url("lrs").rsplit(":", 1)[1])
    key, secret = json.loads(env["SANDBOX_LRS_CREDENTIALS"])[TENANT]
    name = postgres_server.temporary_database_name("credsync_test")
    url = postgres_server.create_database(name)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(f"AIRFLOW_CONN_HRIS_{TENANT.upper()}", http_connection(
                int(seeded_sandboxes.url("hris").rsplit(":", 1)[1]),
                password=json.loads(env["SANDBOX_HRIS_TOKENS"])[TENANT]))
            # The LRS/LMS endpoints are the connection's, path included (base_path extra here).
            patch.setenv(f"AIRFLOW_CONN_LRS_{TENANT.upper()}", http_connection(
                lrs_port, login=key, password=secret, extra={"base_path": "/{tenant}/xAPI/"}))
            patch.setenv(f"AIRFLOW_CONN_LMS_{TENANT.upper()}", http_connection(
                lrs_port, password=json.loads(env["SANDBOX_LMS_TOKENS"])[TENANT],
                extra={"base_path": "/{tenant}/lms/api/v1/"}))
            migrate(url)
            run_pipeline(url)
            yield snapshot(url)
    finally:
        postgres_server.drop_database(name)


def run_pipeline(url: str) -> None:
    """What hris_delta_export, lms_completion_pull and credential_issuance do for one tenant."""
    staged = flow.extract_and_stage(url, tenant_id=TENANT, open_export=HrisHook(f"hris_{TENANT}", TENANT).export)
    flow.merge(url, flow.gate(url, staged))
    with connect(url, autocommit=True) as conn:
        statements = LrsHook(f"lrs_{TENANT}", TENANT).pull_statements(current_watermark(conn, TENANT, LRS_STREAM))
        items = LmsHook(f"lms_{TENANT}", TENANT).export_completions(current_watermark(conn, TENANT, LMS_STREAM))
        batch, _ = stage_pull(conn, tenant_id=TENANT, statements=statements, lms_items=items)
        gate_batch(url, completion_gate(CompletionGateThresholds()), tenant_id=TENANT, batch_id=batch.batch_id)
        merge_completions(conn, tenant_id=TENANT, batch_id=batch.batch_id,
                          watermarks={LRS_STREAM: statements.watermark, LMS_STREAM: items.watermark})
        issue_credentials(conn, tenant_id=TENANT, rules=load_rules(), signing_key=parse_signing_key(
            generate_signing_key()), as_of=AS_OF, run_id="synthetic-history")


def snapshot(url: str) -> History:
    attempts, voided_by = synthetic_attempts()
    with connect(url) as conn:
        def rows(sql: str) -> list[dict[str, Any]]:
            cur = conn.execute(sql, {"tenant": TENANT})
            names = [c.name for c in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

        workers = {r["employee_id"]: r["employment_status"] for r in rows(
            "SELECT employee_id, employment_status FROM core.workers WHERE tenant_id = %(tenant)s")}
        completions = {(r["source"], r["source_id"]): r for r in rows(
            "SELECT source, source_id, employee_id, course_code, verb, success, score, completed_at, voided,"
            " registration FROM core.completions WHERE tenant_id = %(tenant)s")}
        held = {r["source_id"] for r in rows(
            "SELECT source_id FROM core.held_completions WHERE tenant_id = %(tenant)s AND released_at IS NULL")}
        voided = {r["voided_source_id"] for r in rows(
            "SELECT voided_source_id FROM core.voided_statements WHERE tenant_id = %(tenant)s")}
        credentials = [Credential(
            credential_id=str(r["credential_id"]), employee_id=r["employee_id"], credential_type=r["credential_type"],
            status=r["status"], rule_id=r["rule_id"], rule_version=r["rule_version"], issue_date=r["issue_date"],
            expiry_date=r["expiry_date"], evidence_key=frozenset(r["evidence_key"].split(",")),
            items=tuple(r["evidence"]["items"]),
        ) for r in rows(
            "SELECT credential_id, employee_id, credential_type, status, rule_id, rule_version, issue_date,"
            " expiry_date, evidence_key, evidence FROM core.credentials WHERE tenant_id = %(tenant)s")]
        decisions = [Decision(
            employee_id=r["employee_id"], credential_type=r["credential_type"], decision=r["decision"],
            rule_id=r["rule_id"], rule_version=r["rule_version"], evidence_key=frozenset(r["evidence_key"].split(",")),
            items=tuple(r["evidence"]["items"]), credential_id=str(r["credential_id"]) if r["credential_id"] else None,
        ) for r in rows(
            "SELECT employee_id, credential_type, decision, rule_id, rule_version, evidence_key, evidence,"
            " credential_id FROM core.credential_decisions WHERE tenant_id = %(tenant)s")]
    synthetic_workers = list(iter_workers(TENANT, WORKERS, SEED))
    emails = Counter(normalise_email(w["emails"]["work"]) for w in synthetic_workers)
    return History(attempts=attempts, voided_by=voided_by,
                   hris_status={w["employee_id"]: w["employment"]["status"] for w in synthetic_workers},
                   shared_email={w["employee_id"] for w in synthetic_workers
                                 if emails[normalise_email(w["emails"]["work"])] > 1},
                   workers=workers,
                   completions=completions, held=held, voided_statements=voided, credentials=credentials,
                   decisions=decisions, rules=load_rules())


def evidence_item(credential: Credential, course_code: str) -> dict[str, Any]:
    [item] = [i for i in credential.items if i["course_code"] == course_code]
    return item


# The sample and the pipeline that carried it.


def test_every_case_occurs_in_the_synthetic_sample(history) -> None:
    found = edge_case_statements(TENANT, WORKERS, SEED, limit=1)
    assert set(CASES) <= set(STATEMENT_CASES)
    assert [case for case in CASES if not found[case]] == []
    assert set(history.workers.values()) >= {"active", "leave", "terminated"}


def test_workers_and_every_statement_reach_the_warehouse(history) -> None:
    assert history.workers == history.hris_status
    for attempt in history.attempts:
        row = history.completions.get(("xapi", attempt.statement_id))
        if attempt.statement_id in history.voided_by:
            # The LRS hides voided statements from the statements resource; the void itself is recorded.
            assert row is None or row["voided"], attempt
            assert attempt.statement_id in history.voided_statements, attempt
        elif row is None:
            # An email-only actor whose email two workers share cannot be told apart: it is held, not guessed.
            assert attempt.statement_id in history.held, attempt
            assert "actor_account" not in attempt.tags and attempt.employee_id in history.shared_email, attempt
        else:
            assert (row["employee_id"], row["course_code"], row["verb"], row["completed_at"]) == (
                attempt.employee_id, attempt.course_code, attempt.verb, attempt.timestamp), attempt
            assert row["success"] is (attempt.verb in SUCCESS_VERBS)
            assert (None if row["score"] is None else float(row["score"])) == attempt.score
        if attempt.registration not in history.voided_registrations:
            # The LMS REST export reports the same enrollment by account, as its last attempt.
            twin = history.completions[("lms_rest", attempt.registration)]
            assert (twin["employee_id"], twin["course_code"]) == (attempt.employee_id, attempt.course_code)
    assert history.held, "the sample has ambiguous email actors"


# Pass.


def test_pass_by_an_employed_worker_issues_one_active_credential_from_it(history) -> None:
    passes = [a for a in history.attempts if history.issuable(a)]
    assert {v for a in passes for v in a.tags} >= {
        "passed", "mastered", "completed", "actor_account", "actor_mbox", "actor_mbox_sha1sum"}
    for attempt in passes:
        rule = history.rule_for(attempt.course_code)
        credential = history.sole_active(attempt.employee_id, rule.credential_type, attempt)
        # A worker has one enrollment per course: evidence is that enrollment, as the LRS or the LMS reports it.
        assert len(credential.evidence_key) == 1 and credential.evidence_key <= attempt.evidence_keys, attempt
        item = evidence_item(credential, attempt.course_code)
        assert parse_time(item["completed_at"]) == attempt.timestamp
        assert (credential.rule_id, credential.rule_version) == (rule.rule_id, rule.rule_version)
        assert credential.issue_date == attempt.timestamp.date()
        assert credential.expiry_date == natural_expiry(attempt, rule)


def test_pass_by_a_terminated_worker_is_skipped(history) -> None:
    passes = [a for a in history.attempts if history.workers.get(a.employee_id) == "terminated"
              and history.qualifies(a, history.rule_for(a.course_code))
              and history.rule_for(a.course_code).requires_credential is None
              and a.registration not in history.voided_registrations]
    assert passes
    for attempt in passes:
        credential_type = history.rule_for(attempt.course_code).credential_type
        assert history.credentials_of(attempt.employee_id, credential_type) == [], attempt
        assert [d.decision for d in history.decisions if (d.employee_id, d.credential_type)
                == (attempt.employee_id, credential_type)] == ["skipped_terminated"], attempt


def test_pass_below_the_pass_mark_is_no_evidence(history) -> None:
    low = [a for a in history.attempts if a.verb in SUCCESS_VERBS
           and not history.qualifies(a, history.rule_for(a.course_code))]
    assert low
    in_use = history.evidence_in_use
    assert [a for a in low if a.evidence_keys & in_use] == []


# Recertification (a rule that requires an earlier credential of its own type).


def test_licence_with_a_later_recertification_issues_from_the_licence(history) -> None:
    recertification = next(r for r in history.rules if r.requires_credential == r.credential_type)
    [licence] = [r for r in history.rules
                 if r.credential_type == recertification.credential_type and r.requires_credential is None]
    [recert_course], [licence_course] = recertification.course_codes, licence.course_codes
    recertified = {a.employee_id for a in history.attempts if a.course_code == recert_course
                   and history.qualifies(a, recertification) and a.registration not in history.voided_registrations}
    licensed = {a.employee_id for a in history.attempts if a.course_code == licence_course
                and history.qualifies(a, licence) and a.registration not in history.voided_registrations}
    # Both first seen in one run: the licence is issued; the recertification cannot shadow it
    # (it needs a credential that did not exist yet).
    both = [a for a in history.attempts if a.course_code == licence_course and history.issuable(a)
            and a.employee_id in recertified]
    assert both
    for attempt in both:
        credential = history.sole_active(attempt.employee_id, licence.credential_type, attempt)
        assert (credential.rule_id, credential.evidence_key <= attempt.evidence_keys) == (licence.rule_id, True)
    # A recertification without any licence is never a first licence.
    unlicensed = sorted(e for e in recertified - licensed if history.employed(e))
    assert unlicensed
    for employee_id in unlicensed:
        assert history.credentials_of(employee_id, licence.credential_type) == []
        assert [d.decision for d in history.decisions if (d.employee_id, d.credential_type)
                == (employee_id, licence.credential_type)] == ["skipped_requires_credential"]


# Fail and retake.


def test_failed_only_enrollment_issues_nothing_from_it(history) -> None:
    passed = {a.registration for a in history.attempts if a.verb in SUCCESS_VERBS}
    failed_only = [a for a in history.attempts if a.verb == "failed" and a.registration not in passed]
    assert failed_only
    in_use = history.evidence_in_use
    for attempt in failed_only:
        assert not attempt.evidence_keys & in_use, attempt
        rule = history.rule_for(attempt.course_code)
        if history.sole_rule_of_its_type(rule):
            assert history.credentials_of(attempt.employee_id, rule.credential_type) == [], attempt
    # The fails were pulled and stored as fails, not lost on the way.
    assert any(history.completions.get(("xapi", a.statement_id), {}).get("success") is False for a in failed_only)


def test_retake_issues_from_the_passing_attempt_never_the_failed_one(history) -> None:
    by_registration: dict[str, list[Attempt]] = defaultdict(list)
    for attempt in history.attempts:
        by_registration[attempt.registration].append(attempt)
    retakes = [a for a in history.attempts if "retake" in a.tags]
    in_use = history.evidence_in_use
    issued = 0
    for retake in retakes:
        [failed] = [a for a in by_registration[retake.registration] if a.verb == "failed"]
        assert failed.timestamp < retake.timestamp
        assert f"xapi:{failed.statement_id}" not in in_use, retake
        if history.issuable(retake):
            credential_type = history.rule_for(retake.course_code).credential_type
            credential = history.sole_active(retake.employee_id, credential_type, retake)
            assert credential.evidence_key <= retake.evidence_keys, retake
            item = evidence_item(credential, retake.course_code)
            assert (parse_time(item["completed_at"]), float(item["score"])) == (retake.timestamp, retake.score)
            assert credential.issue_date == retake.timestamp.date()
            issued += 1
    assert issued, "no retake in the sample earned a credential"


# Voided.


def test_voided_statement_is_never_evidence_of_an_active_credential(history) -> None:
    voided = [a for a in history.attempts if "voided" in a.tags]
    assert voided and {a.statement_id for a in voided} == set(history.voided_by)
    active_evidence = history.active_evidence
    would_have_issued = 0
    for attempt in voided:
        assert not attempt.evidence_keys & active_evidence, attempt
        rule = history.rule_for(attempt.course_code)
        if (history.qualifies(attempt, rule) and history.sole_rule_of_its_type(rule)
                and history.employed(attempt.employee_id)
                and natural_expiry(attempt, rule) > AS_OF):
            assert history.credentials_of(attempt.employee_id, rule.credential_type) == [], attempt
            would_have_issued += 1
    assert would_have_issued, "no voided statement in the sample would otherwise have earned a credential"


# Late.


def test_late_statement_counts_from_its_timestamp_not_its_arrival(history) -> None:
    late = [a for a in history.attempts if "late" in a.tags and history.issuable(a)]
    assert late
    for attempt in late:
        assert attempt.stored - attempt.timestamp >= timedelta(days=3)
        rule = history.rule_for(attempt.course_code)
        credential = history.sole_active(attempt.employee_id, rule.credential_type, attempt)
        assert credential.evidence_key <= attempt.evidence_keys, attempt
        assert credential.issue_date == attempt.timestamp.date() != attempt.stored.date()
        assert credential.expiry_date == natural_expiry(attempt, rule)
    assert any("late" in a.tags and "expired" in a.tags for a in history.attempts)


# Expired.


def test_expired_statement_never_yields_an_active_credential(history) -> None:
    expired = [a for a in history.attempts if "expired" in a.tags]
    assert expired
    active_evidence = history.active_evidence
    recorded = 0
    for attempt in expired:
        rule = history.rule_for(attempt.course_code)
        assert natural_expiry(attempt, rule) <= AS_OF, attempt  # the generator's months agree with the rules
        assert not attempt.evidence_keys & active_evidence, attempt
        if (history.qualifies(attempt, rule) and history.sole_rule_of_its_type(rule)
                and history.employed(attempt.employee_id)
                and attempt.registration not in history.voided_registrations):
            assert history.credentials_of(attempt.employee_id, rule.credential_type) == [], attempt
            [decision] = [d for d in history.decisions if (d.employee_id, d.credential_type)
                          == (attempt.employee_id, rule.credential_type)]
            assert decision.decision == "skipped_expired" and decision.evidence_key <= attempt.evidence_keys
            recorded += 1
    assert recorded


# Across all cases.


def test_at_most_one_active_credential_per_worker_and_type(history) -> None:
    active = Counter((c.employee_id, c.credential_type) for c in history.credentials if c.status == "active")
    assert active and max(active.values()) == 1


def test_every_credential_is_logged_with_rule_version_and_sound_evidence(history) -> None:
    rules = {r.rule_id: r for r in history.rules}
    issued = {d.credential_id: d for d in history.decisions if d.decision == "issued"}
    assert history.credentials and len(issued) == len(history.credentials)
    for credential in history.credentials:
        decision = issued[credential.credential_id]
        assert (decision.employee_id, decision.credential_type, decision.rule_id, decision.rule_version,
                decision.evidence_key, decision.items) == (
            credential.employee_id, credential.credential_type, credential.rule_id, credential.rule_version,
            credential.evidence_key, credential.items)
        assert decision.rule_version == rules[credential.rule_id].rule_version
        assert history.workers[credential.employee_id] != "terminated"
        assert credential.expiry_date > AS_OF
        for key in credential.evidence_key:
            source, source_id = key.split(":", 1)
            completion = history.completions[(source, source_id)]
            assert completion["employee_id"] == credential.employee_id
            assert completion["success"] and not completion["voided"]
