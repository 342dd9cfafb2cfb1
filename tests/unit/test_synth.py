"""The synthetic generators: deterministic, every edge case present, streaming in bounded memory."""

from __future__ import annotations

import gc
import itertools
import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from sandbox.hris.records import Worker
from sandbox.synth.catalog import COURSES_BY_CODE
from sandbox.synth.changes import CHANGE_KINDS, hires_per_day, iter_changes
from sandbox.synth.learning import (
    STATEMENT_CASES,
    edge_case_statements,
    iter_rest_completions,
    iter_statements,
)
from sandbox.synth.workforce import EDGE_CASES, edge_case_ids, iter_workers

COUNT = 5000
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def workforce() -> dict[str, dict]:
    return {w["employee_id"]: w for w in iter_workers("acme", COUNT, 7)}


@pytest.fixture(scope="module")
def statements() -> dict[str, dict]:
    return {s["id"]: s for s in iter_statements("acme", 2000, 7)}


def _normalised(email: str) -> str:
    local, domain = email.lower().split("@")
    return f"{local.split('+')[0]}@{domain}"


def test_same_seed_gives_the_same_output_and_another_seed_does_not() -> None:
    assert list(iter_workers("acme", 300, 7)) == list(iter_workers("acme", 300, 7))
    assert list(iter_workers("acme", 300, 7)) != list(iter_workers("acme", 300, 8))
    assert list(iter_workers("acme", 300, 7)) != list(iter_workers("globex", 300, 7))
    assert list(iter_statements("acme", 200, 7, "2.0")) == list(iter_statements("acme", 200, 7, "2.0"))
    assert list(iter_rest_completions("acme", 200, 7)) == list(iter_rest_completions("acme", 200, 7))
    assert list(iter_changes("acme", 300, 7, 3)) == list(iter_changes("acme", 300, 7, 3))


def test_the_workforce_is_the_same_in_every_process_whatever_its_hash_salt() -> None:
    # The HRIS and LRS sandboxes each build the workforce in a process of their own; two sandbox
    # starts (a rerun, the distributed test's two runs) must serve the same workers. Faker's it_IT
    # city list comes from a set, whose order follows the per-process hash salt.
    script = ("import json; from sandbox.synth.workforce import iter_workers; "
              "print(json.dumps(list(iter_workers('acme', 300, 7)), default=str))")
    outputs = {
        subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": salt, "PYTHONPATH": str(ROOT)}).stdout
        for salt in ("1", "2", "3")
    }
    assert len(outputs) == 1


def test_a_smaller_workforce_is_a_prefix_of_a_larger_one() -> None:
    assert list(iter_workers("acme", 100, 7)) == list(itertools.islice(iter_workers("acme", 400, 7), 100))


def test_workers_match_the_hris_contract_and_have_unique_ids(workforce: dict[str, dict]) -> None:
    assert len(workforce) == COUNT
    for worker in itertools.islice(workforce.values(), 500):
        assert Worker.model_validate(worker).document() == {k: v for k, v in worker.items() if k != "updated_at"}


def test_every_worker_edge_case_is_present_and_means_what_it_says(workforce: dict[str, dict]) -> None:
    cases = edge_case_ids("acme", COUNT, 7)
    assert set(cases) == set(EDGE_CASES)
    assert all(len(ids) == 5 for ids in cases.values()), cases
    for employee_id in cases["acquired"]:
        assert employee_id.startswith("A") and workforce[employee_id]["source_system"] == "acquired_hris"
    for employee_id in cases["rehired"]:
        employment = workforce[employee_id]["employment"]
        assert employment["status"] == "active" and employment["rehire_date"] > employment["termination_date"]
    for employee_id in cases["terminated"]:
        assert workforce[employee_id]["employment"]["termination_date"]
    for employee_id in cases["preferred_name"]:
        name = workforce[employee_id]["name"]
        assert name["preferred"] and name["preferred"] != name["given"]
    assert all("+" in workforce[e]["emails"]["work"] for e in cases["alias_email"])
    for employee_id in cases["mixed_case_email"]:
        assert workforce[employee_id]["emails"]["work"] != workforce[employee_id]["emails"]["work"].lower()
    by_email = Counter(_normalised(w["emails"]["work"]) for w in workforce.values())
    for employee_id in cases["duplicate_email"] + cases["cross_source_duplicate"]:
        assert by_email[_normalised(workforce[employee_id]["emails"]["work"])] >= 2
    for employee_id in cases["cross_source_duplicate"]:
        twin = next(w for w in workforce.values() if w["source_system"] == "hris_main"
                    and _normalised(w["emails"]["work"]) == _normalised(workforce[employee_id]["emails"]["work"]))
        assert twin["name"]["family"] == workforce[employee_id]["name"]["family"]


def test_duplicate_emails_happen_only_at_the_documented_rate(workforce: dict[str, dict]) -> None:
    by_email = Counter(_normalised(w["emails"]["work"]) for w in workforce.values())
    shared = sum(n - 1 for n in by_email.values() if n > 1)
    assert 0.003 * COUNT <= shared <= 0.015 * COUNT


def test_managers_are_earlier_workers(workforce: dict[str, dict]) -> None:
    ids = list(workforce)
    position = {employee_id: i for i, employee_id in enumerate(ids)}
    for employee_id in ids[1:]:
        assert position[workforce[employee_id]["employment"]["manager_id"]] < position[employee_id]
    assert workforce[ids[0]]["employment"]["manager_id"] is None


def test_day_changes_cover_every_kind_and_days_do_not_overlap(workforce: dict[str, dict]) -> None:
    days = {day: list(iter_changes("acme", COUNT, 7, day)) for day in (1, 2, 3)}
    kinds = Counter(change["kind"] for changes in days.values() for change in changes)
    assert set(kinds) == set(CHANGE_KINDS), kinds
    touched = [{c["employee_id"] for c in changes} for changes in days.values()]
    assert not (touched[0] & touched[1]) and not (touched[1] & touched[2])
    for change in days[1]:
        worker, before = change["worker"], workforce.get(change["employee_id"])
        Worker.model_validate(worker)
        if change["kind"] == "hire":
            assert before is None and worker["employment"]["hire_date"] == "2026-11-02"
        elif change["kind"] == "rehire":
            assert before["employment"]["status"] == "terminated" and worker["employment"]["status"] == "active"
        elif change["kind"] == "terminate":
            assert worker["employment"]["termination_date"] == "2026-11-02"
        else:
            assert worker != before
    assert kinds["hire"] == 3 * hires_per_day(COUNT)


def test_every_statement_case_is_present(statements: dict[str, dict]) -> None:
    cases = edge_case_statements("acme", 2000, 7)
    assert set(cases) == set(STATEMENT_CASES)
    assert all(len(ids) == 5 for ids in cases.values()), {k: len(v) for k, v in cases.items()}
    for statement_id in cases["voiding"]:
        voiding = statements[statement_id]
        assert voiding["verb"]["id"].endswith("/voided") and voiding["object"]["objectType"] == "StatementRef"
        assert voiding["object"]["id"] in statements
    for statement_id in cases["retake"]:
        retake = statements[statement_id]
        earlier = [s for s in statements.values()
                   if s.get("context", {}).get("registration") == retake["context"]["registration"]]
        # By timestamp: a late fail can arrive (stored) after the pass that followed it.
        earlier.sort(key=lambda s: s["timestamp"])
        assert [s["verb"]["id"].rsplit("/", 1)[1] for s in earlier] == ["failed", "passed"]
    for statement_id in cases["late"]:
        late = statements[statement_id]
        assert _instant(late["stored"]) - _instant(late["timestamp"]) >= timedelta(days=3)
    for statement_id in cases["expired"]:
        expired = statements[statement_id]
        course = COURSES_BY_CODE[expired["object"]["id"].rsplit("/", 1)[1]]
        assert _instant(expired["timestamp"]) + timedelta(days=30 * course.validity_months) < _instant(
            "2026-11-01T00:00:00.000Z")
    sha1 = statements[cases["actor_mbox_sha1sum"][0]]["actor"]["mbox_sha1sum"]
    assert len(sha1) == 40 and int(sha1, 16)
    assert "scaled" in statements[cases["scaled_score"][0]]["result"]["score"]
    assert set(statements[cases["raw_score"][0]]["result"]["score"]) == {"raw", "min", "max"}


def test_statements_follow_the_lrs_contract(statements: dict[str, dict]) -> None:
    for statement in statements.values():
        actor = statement["actor"]
        assert {"account", "mbox", "mbox_sha1sum"} & set(actor)
        if "account" in actor and actor["account"]["name"] != "lms-admin":
            assert actor["account"]["homePage"] == "https://lms.acme.example"
        assert statement["verb"]["id"].rsplit("/", 1)[1] in {"completed", "passed", "failed", "mastered", "voided"}
        assert statement["timestamp"].endswith("Z") and statement["version"] == "1.0.3"
        if statement["object"]["objectType"] == "Activity":
            assert statement["object"]["id"].startswith("https://lms.acme.example/courses/")
            assert statement["context"]["registration"]


def test_rest_completions_match_the_statements_enrollments(statements: dict[str, dict]) -> None:
    registrations = {s["context"]["registration"] for s in statements.values() if "context" in s}
    items = list(iter_rest_completions("acme", 2000, 7))
    completed = [i for i in items if i["completion_status"] == "completed"]
    assert {i["enrollment_id"] for i in completed} <= registrations
    assert any(i["completion_status"] == "incomplete" for i in items)
    assert {"raw", "min", "max", "scaled"} == set(next(i["score"] for i in items if i["score"]))


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads resident memory from /proc")
def test_streaming_50k_workers_keeps_memory_flat() -> None:
    next(iter_workers("acme", 1, 7))  # name pools are built once per tenant; keep them out of the measurement
    baseline = _resident_bytes()
    highest = baseline
    for position, _ in enumerate(iter_workers("acme", 50_000, 7)):
        if position % 5000 == 0:
            highest = max(highest, _resident_bytes())
    # 50k worker dicts held at once take about 50 MiB; a streaming generator stays within a few.
    assert highest - baseline < 16 * 2**20, f"resident memory grew by {(highest - baseline) / 2**20:.1f} MiB"


def _resident_bytes() -> int:
    gc.collect()
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
