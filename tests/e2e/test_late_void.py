"""Issue 13 acceptance, end to end: a late void of a credential's only evidence revokes it everywhere.

Two credentials of one small tenant lose their only evidence to a voiding statement
posted into the LRS sandbox through its xAPI API after they were issued, pushed and
written back:

- one issued from an xAPI completion this test posts before the first run (no REST copy);
- one issued from the LMS REST export's copy of a seeded xAPI completion (the REST twin,
  same enrollment = the statement's ``context.registration``): voiding the xAPI statement
  must take the twin with it.

Each void is dated back a minute after the completion (stored now): a late void. Then
``lms_completion_pull``, ``credential_issuance``, ``registry_push`` and ``hris_writeback``
run as Airflow DAG runs (``airflow dags test``, one process) and the outcome is read where
it lands: ``core.credentials``, the registry sandbox's certificate over its OAuth2 API, the
HRIS sandbox's worker profile over its Bearer API. The same four DAG runs again change
nothing and send nothing. Revocations reach the registry through ``registry_push``
(``enqueue_revokes.sql``; recertification sends the same queue daily), so recertification
is not needed here.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from credsync.warehouse import connect
from credsync_dev.localenv.pipeline import DagRunResult, DemoEnvironment
from tests.e2e.environment import e2e_environment

# Minutes of DAG runs: in CI always, locally with CREDSYNC_CI_SLOW=1 (README, "Other commands").
pytestmark = [pytest.mark.slow, pytest.mark.ci_slow, pytest.mark.timeout(1200)]

TENANT = "acme"
# Small enough to be quick, large enough that the seeded history has a single-enrollment
# forklift licence issued from its REST copy; globex only has to exist (DAGs map over both).
WORKFORCE = {"acme": {"workers": 60, "seed": 7}, "globex": {"workers": 10, "seed": 11}}
FIRST_RUN = ("hris_delta_export", "scim_provisioning", "lms_completion_pull", "credential_issuance",
             "registry_push", "hris_writeback")
AFTER_VOID = ("lms_completion_pull", "credential_issuance", "registry_push", "hris_writeback")
XAPI = {"X-Experience-API-Version": "1.0.3"}
VERBS = "http://adlnet.gov/expapi/verbs/"
# The course this test passes by xAPI alone (rule HAZMAT: pass mark 85, pay impact).
OWN_COURSE, OWN_TYPE = "HAZMAT-300", "hazmat_handling"


@dataclass(frozen=True)
class Voided:
    """A credential whose only evidence the test voided, and what each system said about it."""

    case: str  # xapi | rest_twin
    credential_id: str
    employee_id: str
    credential_type: str
    pay_impact: bool
    statement_id: str  # the voided xAPI statement
    voiding_id: str
    registry_id: str
    evidence_key_before: str


@dataclass
class Scenario:
    dag_runs: dict[str, list[DagRunResult]] = field(default_factory=dict)
    voided: dict[str, Voided] = field(default_factory=dict)
    before: dict[str, dict[str, Any]] = field(default_factory=dict)  # case -> observed before the void
    after: dict[str, dict[str, Any]] = field(default_factory=dict)  # case -> after the DAG runs
    rerun: dict[str, dict[str, Any]] = field(default_factory=dict)  # case -> after the same runs again
    counts_after: dict[str, Any] = field(default_factory=dict)
    counts_rerun: dict[str, Any] = field(default_factory=dict)
    others_before: dict[str, str] = field(default_factory=dict)  # every other credential's status
    others_after: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory, postgres_server) -> Iterator[Scenario]:
    build_dir: Path = tmp_path_factory.mktemp("e2e-void")
    result = Scenario()
    started = time.monotonic()
    with e2e_environment(build_dir, postgres_server, WORKFORCE) as demo:
        result.seconds["setup"] = _since(started)
        api = SandboxApis(demo)
        # 0. An xAPI-only pass for a worker who never took the course (no REST copy exists).
        own_employee = _worker_without_course(api, OWN_COURSE)
        own_passed = _passed_statement(own_employee, OWN_COURSE, datetime.now(UTC) - timedelta(hours=2))
        api.post_statements([own_passed])

        with connect(demo.warehouse_url, autocommit=True) as conn:
            # 1. The pipeline up to the write-back: both credentials issued, pushed, written back.
            _phase(result, demo, "first", FIRST_RUN)
            xapi_case = _credential_of(conn, "xapi", own_employee, OWN_TYPE, f"xapi:{own_passed['id']}")
            twin_case = _rest_twin_credential(conn)
            for case in (xapi_case, twin_case):
                result.before[case["case"]] = api.observe(case["employee_id"], case["credential_type"],
                                                          case["registry_id"])

            # 2. The late voids, through the LRS's own statement API.
            for case in (xapi_case, twin_case):
                completed_at = conn.execute(
                    "SELECT completed_at FROM core.completions WHERE tenant_id = %s AND source = 'xapi'"
                    " AND source_id = %s", (TENANT, case["statement_id"])).fetchone()[0]
                voiding = _voiding_statement(case["statement_id"], completed_at + timedelta(minutes=1))
                api.post_statements([voiding])
                result.voided[case["case"]] = Voided(voiding_id=voiding["id"], **case)

            result.others_before = _other_statuses(conn, result.voided)

            # 3. The DAGs that carry a revocation from the LRS to the registry and the HRIS.
            _phase(result, demo, "after_void", AFTER_VOID)
            for name, voided in result.voided.items():
                result.after[name] = {**api.observe(voided.employee_id, voided.credential_type,
                                                    voided.registry_id),
                                      **_core_state(conn, voided)}
            result.counts_after = {**_counts(conn), **api.registry_writes()}
            result.others_after = _other_statuses(conn, result.voided)

            # 4. The same DAG runs again: nothing changes, nothing is sent twice.
            _phase(result, demo, "rerun", AFTER_VOID)
            for name, voided in result.voided.items():
                result.rerun[name] = {**api.observe(voided.employee_id, voided.credential_type,
                                                    voided.registry_id),
                                      **_core_state(conn, voided)}
            result.counts_rerun = {**_counts(conn), **api.registry_writes()}
    result.seconds["total"] = _since(started)
    print("late void e2e timings (s):", result.seconds)
    yield result


@pytest.mark.parametrize("case", ["xapi", "rest_twin"])
def test_both_credentials_were_active_everywhere_before_the_void(scenario: Scenario, case: str) -> None:
    voided = scenario.voided[case]
    assert voided.evidence_key_before.startswith("xapi:" if case == "xapi" else "lms_rest:")
    before = scenario.before[case]
    assert before["registry_status"] == "active"
    assert before["hris_certification"]["status"] == "active"
    if voided.pay_impact:
        assert before["payroll_flag"]["active"] is True


@pytest.mark.parametrize("case", ["xapi", "rest_twin"])
def test_a_late_void_of_the_only_evidence_revokes_the_credential_in_core(scenario: Scenario, case: str) -> None:
    after = scenario.after[case]
    assert (after["status"], after["status_reason"]) == ("revoked", "evidence_voided")
    # The voided evidence is kept, marked voided by the test's voiding statement (REST twin included).
    voided = scenario.voided[case]
    expected_sources = {"xapi"} if case == "xapi" else {"xapi", "lms_rest"}
    assert {source for source, _ in after["voided_evidence"]} == expected_sources
    assert {by for _, by in after["voided_evidence"]} == {voided.voiding_id}
    # Nothing else qualifies: no replacement credential was issued.
    assert after["active_of_type"] == 0
    assert after["revocation_events"] == 1


@pytest.mark.parametrize("case", ["xapi", "rest_twin"])
def test_the_registry_shows_the_certificate_revoked(scenario: Scenario, case: str) -> None:
    after = scenario.after[case]
    assert after["registry_status"] == "revoked"
    assert after["revoke_submission"] == "acknowledged"


@pytest.mark.parametrize("case", ["xapi", "rest_twin"])
def test_the_hris_write_back_shows_the_certification_revoked_and_the_pay_flag_off(scenario: Scenario,
                                                                                   case: str) -> None:
    voided, after = scenario.voided[case], scenario.after[case]
    assert after["hris_certification"]["status"] == "revoked"
    assert after["hris_certification"]["status"] != scenario.before[case]["hris_certification"]["status"]
    if voided.pay_impact:
        assert after["payroll_flag"]["active"] is False
    assert voided.pay_impact or case == "rest_twin", "the xAPI case's course carries pay impact"


def test_no_other_credential_changed(scenario: Scenario) -> None:
    assert scenario.others_before, "the tenant has other credentials"
    assert scenario.others_after == scenario.others_before


def test_rerunning_the_same_dags_changes_nothing_and_sends_nothing(scenario: Scenario) -> None:
    assert [r.dag_id for r in scenario.dag_runs["rerun"]] == list(AFTER_VOID)
    assert scenario.rerun == scenario.after
    assert scenario.counts_rerun == scenario.counts_after


class SandboxApis:
    """The LRS, registry and HRIS sandboxes over their own HTTP APIs, with the tenant's credentials."""

    def __init__(self, demo: DemoEnvironment) -> None:
        self.sandboxes = demo.sandboxes
        env = demo.sandboxes.env
        self.lrs_auth = tuple(json.loads(env["SANDBOX_LRS_CREDENTIALS"])[TENANT])
        self.lms_token = json.loads(env["SANDBOX_LMS_TOKENS"])[TENANT]
        self.hris_headers = {"Authorization": f"Bearer {json.loads(env['SANDBOX_HRIS_TOKENS'])[TENANT]}"}
        client_id, entry = next(iter(json.loads(env["SANDBOX_REGISTRY_CLIENTS"]).items()))
        self._registry_client = {"grant_type": "client_credentials", "client_id": client_id,
                                 "client_secret": entry["secret"]}
        self._own_token_requests = 0  # left out of registry_writes: the pipeline's writes are compared

    @property
    def registry_headers(self) -> dict[str, str]:
        """A fresh registry token for each read: the DAG runs between two reads can take longer than
        the token's lifetime (300 s) on a loaded machine."""
        token = httpx.post(f"{self.sandboxes.url('registry')}/oauth/token", timeout=30, data=self._registry_client)
        self._own_token_requests += 1
        token.raise_for_status()
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    def post_statements(self, statements: list[dict[str, Any]]) -> None:
        response = httpx.post(f"{self.sandboxes.url('lrs')}/{TENANT}/xAPI/statements", json=statements,
                              auth=self.lrs_auth, headers=XAPI, timeout=30)
        assert response.status_code == 200, response.text
        assert response.json() == [s["id"] for s in statements]

    def lrs_statements(self, **params: str) -> Iterator[dict[str, Any]]:
        url = f"{self.sandboxes.url('lrs')}/{TENANT}/xAPI/statements"
        query: dict[str, str] | None = params
        while url:
            page = httpx.get(url, params=query, auth=self.lrs_auth, headers=XAPI, timeout=30)
            page.raise_for_status()
            yield from page.json()["statements"]
            more = page.json().get("more")
            url, query = (f"{self.sandboxes.url('lrs')}{more}" if more else ""), None

    def rest_completions(self) -> Iterator[dict[str, Any]]:
        url = f"{self.sandboxes.url('lrs')}/{TENANT}/lms/api/v1/completions"
        params: dict[str, str] = {"page_size": "1000"}
        while True:
            page = httpx.get(url, params=params, headers={"Authorization": f"Bearer {self.lms_token}"}, timeout=30)
            page.raise_for_status()
            yield from page.json()["items"]
            if not page.json().get("next_page_token"):
                return
            params = {"page_token": page.json()["next_page_token"]}

    def hris_workers(self) -> Iterator[dict[str, Any]]:
        params: dict[str, str] = {"limit": "500"}
        while True:
            page = httpx.get(f"{self.sandboxes.url('hris')}/api/v1/tenants/{TENANT}/workers", params=params,
                             headers=self.hris_headers, timeout=30)
            page.raise_for_status()
            yield from page.json()["data"]
            if not page.json().get("next_cursor"):
                return
            params = {"cursor": page.json()["next_cursor"], "limit": "500"}

    def observe(self, employee_id: str, credential_type: str, registry_id: str) -> dict[str, Any]:
        """The certificate as the registry lists it; the worker's certification and pay flag at the HRIS."""
        certificate = httpx.get(f"{self.sandboxes.url('registry')}/v1/certificates/{registry_id}",
                                headers=self.registry_headers, timeout=30)
        certificate.raise_for_status()
        worker = httpx.get(f"{self.sandboxes.url('hris')}/api/v1/tenants/{TENANT}/workers/{employee_id}",
                           headers=self.hris_headers, timeout=30)
        worker.raise_for_status()
        profile = worker.json()
        certifications = [c for c in profile["certifications"] if c["credential_type"] == credential_type]
        flags = [f for f in profile["payroll_flags"] if f["flag"] == credential_type]
        assert len(certifications) == 1 and len(flags) <= 1, profile
        return {"registry_status": certificate.json()["status"], "hris_certification": certifications[0],
                "payroll_flag": flags[0] if flags else None}

    def registry_writes(self) -> dict[str, Any]:
        """The registry's own count of write requests by endpoint and status (reads are not counted here)."""
        stats = httpx.get(f"{self.sandboxes.admin('registry')}/stats", timeout=30)
        stats.raise_for_status()
        writes = {f"{r['method']} {r['endpoint']} {r['status']}": r["count"]
                  for r in stats.json()["requests"] if r["method"] != "GET"}
        writes["POST /oauth/token 200"] = writes.get("POST /oauth/token 200", 0) - self._own_token_requests
        return {"registry_writes": writes, "registry_certificates": stats.json().get("certificates")}


def _worker_without_course(api: SandboxApis, course_code: str) -> str:
    """An active HRIS worker with no statement and no REST completion of ``course_code`` at all."""
    activity = f"https://lms.{TENANT}.example/courses/{course_code}"
    taken: set[str] = set()
    for statement in api.lrs_statements(activity=activity):
        actor = statement["actor"]
        taken |= {actor.get("account", {}).get("name", ""), actor.get("mbox", ""), actor.get("mbox_sha1sum", "")}
    taken |= {c["user_external_id"] for c in api.rest_completions() if c["course_code"] == course_code}
    for worker in api.hris_workers():
        email = f"mailto:{worker['emails']['work']}"
        keys = {worker["employee_id"], email, hashlib.sha1(email.encode()).hexdigest()}  # noqa: S324 - xAPI's IFI
        if worker["employment"]["status"] == "active" and not keys & taken:
            return worker["employee_id"]
    raise AssertionError(f"every active worker of {TENANT} has a {course_code} record")


def _passed_statement(employee_id: str, course_code: str, when: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "account": {"homePage": f"https://lms.{TENANT}.example", "name": employee_id}},
        "verb": {"id": VERBS + "passed", "display": {"en-US": "passed"}},
        "object": {"objectType": "Activity", "id": f"https://lms.{TENANT}.example/courses/{course_code}",
                   "definition": {"type": "http://adlnet.gov/expapi/activities/course"}},
        "result": {"completion": True, "success": True, "score": {"scaled": 0.93}},
        "context": {"registration": str(uuid.uuid4()), "platform": f"lms.{TENANT}.example"},
        "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def _voiding_statement(target_id: str, when: datetime) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "account": {"homePage": f"https://lms.{TENANT}.example",
                                                     "name": "lms-admin"}},
        "verb": {"id": VERBS + "voided", "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target_id},
        "timestamp": when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def _credential_of(conn, case: str, employee_id: str, credential_type: str, evidence_key: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT c.credential_id::text, c.pay_impact, c.evidence_key, s.registry_id FROM core.credentials c "
        "JOIN core.registry_submissions s ON s.credential_id = c.credential_id AND s.operation = 'issue' "
        " AND s.state = 'acknowledged' "
        "WHERE c.tenant_id = %s AND c.employee_id = %s AND c.credential_type = %s AND c.status = 'active'",
        (TENANT, employee_id, credential_type)).fetchall()
    assert len(row) == 1, f"{employee_id} {credential_type}: {row}"
    credential_id, pay_impact, key, registry_id = row[0]
    assert key == evidence_key, f"{credential_id} was issued from {key}, not {evidence_key}"
    return {"case": case, "credential_id": credential_id, "employee_id": employee_id,
            "credential_type": credential_type, "pay_impact": pay_impact,
            "statement_id": evidence_key.split(":", 1)[1], "registry_id": registry_id,
            "evidence_key_before": key}


def _rest_twin_credential(conn) -> dict[str, Any]:
    """An active, acknowledged credential issued from one REST completion whose xAPI twin (same
    enrollment, person, course) is the worker's only other successful record of the rule's courses."""
    rows = conn.execute(
        """
        SELECT c.employee_id, c.credential_type, c.evidence_key, x.source_id
        FROM core.credentials c
        JOIN core.completions r ON r.tenant_id = c.tenant_id AND r.source = 'lms_rest'
         AND 'lms_rest:' || r.source_id = c.evidence_key
        JOIN core.completions x ON x.tenant_id = c.tenant_id AND x.source = 'xapi' AND NOT x.voided
         AND lower(x.registration) = lower(r.registration) AND x.employee_id = r.employee_id
         AND x.course_code = r.course_code AND x.success
        WHERE c.tenant_id = %(tenant)s AND c.status = 'active' AND jsonb_array_length(c.evidence -> 'items') = 1
          -- no other successful record of any course that earns this credential type
          AND NOT EXISTS (
              SELECT 1 FROM core.completions o
              WHERE o.tenant_id = c.tenant_id AND o.employee_id = c.employee_id AND o.success AND NOT o.voided
                AND o.course_code IN (SELECT jsonb_array_elements_text(%(courses)s::jsonb -> c.credential_type))
                AND o.source_id NOT IN (r.source_id, x.source_id))
          -- the xAPI twin is one statement: no retake shares the registration
          AND (SELECT count(*) FROM core.completions t WHERE t.tenant_id = c.tenant_id AND t.source = 'xapi'
               AND lower(t.registration) = lower(r.registration)) = 1
          -- no other credential rests on the same courses (a combined rule would be revoked too)
          AND NOT EXISTS (SELECT 1 FROM core.credentials o WHERE o.tenant_id = c.tenant_id
                          AND o.employee_id = c.employee_id AND o.credential_id <> c.credential_id
                          AND o.evidence::text LIKE '%%' || r.source_id || '%%')
        ORDER BY c.pay_impact DESC, c.employee_id, c.credential_type
        """,
        {"tenant": TENANT, "courses": json.dumps(_courses_by_type())}).fetchall()
    assert rows, "the seeded history has no single-enrollment credential issued from a REST copy"
    employee_id, credential_type, evidence_key, _statement_id = rows[0]
    case = _credential_of(conn, "rest_twin", employee_id, credential_type, evidence_key)
    return {**case, "statement_id": _statement_id}


def _courses_by_type() -> dict[str, list[str]]:
    """Every course that earns each credential type under the current rules (include/mappings)."""
    from credsync.credentials.rules import load_rules

    courses: dict[str, list[str]] = {}
    for rule in load_rules():
        courses.setdefault(rule.credential_type, []).extend(rule.course_codes)
    return courses


def _core_state(conn, voided: Voided) -> dict[str, Any]:
    status, reason = conn.execute("SELECT status, status_reason FROM core.credentials WHERE credential_id = %s",
                                  (voided.credential_id,)).fetchone()
    evidence = conn.execute(
        "SELECT k.source, k.voided_by FROM core.credentials c "
        "CROSS JOIN LATERAL jsonb_array_elements(c.evidence -> 'items') AS item "
        "JOIN core.completions k ON k.tenant_id = c.tenant_id AND k.source = item ->> 'source' "
        " AND k.source_id = item ->> 'source_id' "
        "WHERE c.credential_id = %s AND k.voided "
        "UNION "
        "SELECT k.source, k.voided_by FROM core.completions k WHERE k.tenant_id = %s AND k.voided "
        " AND k.source = 'xapi' AND k.source_id = %s",
        (voided.credential_id, TENANT, voided.statement_id)).fetchall()
    active = conn.execute(
        "SELECT count(*) FROM core.credentials WHERE tenant_id = %s AND employee_id = %s AND credential_type = %s"
        " AND status = 'active'", (TENANT, voided.employee_id, voided.credential_type)).fetchone()[0]
    events = conn.execute(
        "SELECT count(*) FROM audit.events WHERE tenant_id = %s AND event_type = 'credential.revoked'"
        " AND entity_key = %s", (TENANT, voided.credential_id)).fetchone()[0]
    revoke = conn.execute(
        "SELECT state FROM core.registry_submissions WHERE credential_id = %s AND operation = 'revoke'",
        (voided.credential_id,)).fetchall()
    return {"status": status, "status_reason": reason, "voided_evidence": sorted(evidence),
            "active_of_type": active, "revocation_events": events,
            "revoke_submission": revoke[0][0] if len(revoke) == 1 else revoke}


def _counts(conn) -> dict[str, Any]:
    """What a rerun must not add to: credentials, completions, submissions, attempts, write-backs, letters."""
    counts = {}
    for table in ("core.credentials", "core.completions", "core.registry_submissions", "core.registry_attempts",
                  "core.writebacks", "audit.dead_letters"):
        counts[table] = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    counts["statuses"] = dict(conn.execute(
        "SELECT status || ':' || coalesce(status_reason, ''), count(*) FROM core.credentials GROUP BY 1").fetchall())
    return counts


def _other_statuses(conn, voided: dict[str, Voided]) -> dict[str, str]:
    return dict(conn.execute(
        "SELECT credential_id::text, status FROM core.credentials WHERE tenant_id = %s"
        " AND NOT credential_id = ANY(%s::uuid[])",
        (TENANT, [v.credential_id for v in voided.values()])).fetchall())


def _phase(result: Scenario, demo: DemoEnvironment, name: str, runs: tuple[str, ...]) -> None:
    started = time.monotonic()
    done = demo.run_dags(list(runs), log_name=f"e2e-void-{name}")
    result.dag_runs[name] = done
    result.seconds[name] = _since(started)
    assert len(done) == len(runs) and all(r.succeeded for r in done), \
        f"{name}: {[(r.dag_id, r.state) for r in done]} of {len(runs)} runs; log {done[-1].log if done else '-'}"


def _since(started: float) -> float:
    return round(time.monotonic() - started, 1)
