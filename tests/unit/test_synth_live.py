"""Live completions: the minutes before ``now`` (the demo's latencies come from them), not the history."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

from sandbox.lrs.seeding import authority_for, seed_tenant
from sandbox.lrs.settings import LrsSettings
from sandbox.lrs.store import LrsStore
from sandbox.synth.learning import LIVE_COURSE, iter_live_statements, iter_statements
from sandbox.synth.workforce import Workforce

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
WORKERS = 200


def parse(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_live_completions_lie_in_the_quarter_hour_before_now_and_pass_the_cpr_rule() -> None:
    live = list(iter_live_statements("acme", WORKERS, 7, now=NOW, count=12))

    assert len(live) == 12
    for statement in live:
        completed = parse(statement["timestamp"])
        assert NOW - timedelta(minutes=15) <= completed < NOW - timedelta(seconds=29)
        assert "stored" not in statement  # the LRS stamps its arrival
        assert statement["verb"]["id"].endswith("/passed") and statement["object"]["id"].endswith(LIVE_COURSE)
        assert statement["result"]["score"]["raw"] >= 80  # CPR-AED's pass mark
    assert len({s["id"] for s in live}) == 12
    # Spread over the minutes, not one instant.
    assert len({s["timestamp"] for s in live}) > 6


def test_each_goes_to_an_active_employee_without_cpr_history() -> None:
    live = list(iter_live_statements("acme", WORKERS, 7, now=NOW, count=12))
    people = {s["actor"]["account"]["name"] for s in live}
    workers = {w["employee_id"]: (w, tags) for _, w, tags in Workforce("acme", 7).iter_tagged(WORKERS)}
    for employee_id in people:
        worker, tags = workers[employee_id]
        assert worker["employment"]["status"] == "active" and worker["employment"]["type"] == "employee"
        assert not tags & {"acquired", "duplicate_email", "cross_source_duplicate"}
    history_cpr = {s["actor"].get("account", {}).get("name") for s in iter_statements("acme", WORKERS, 7)
                   if s["object"].get("id", "").endswith(LIVE_COURSE)}
    assert not people & history_cpr
    # Spread over the workforce, not its first rows.
    assert max(int(p[1:]) for p in people) > WORKERS // 2


def test_same_arguments_same_statements_and_none_without_a_count() -> None:
    first = list(iter_live_statements("acme", WORKERS, 7, now=NOW, count=5))
    assert first == list(iter_live_statements("acme", WORKERS, 7, now=NOW, count=5))
    assert first != list(iter_live_statements("acme", WORKERS, 7, now=NOW + timedelta(hours=1), count=5))
    assert list(iter_live_statements("acme", WORKERS, 7, now=NOW, count=0)) == []


def test_a_seed_plan_with_live_adds_them_to_the_lrs_once(tmp_path) -> None:
    settings = LrsSettings.from_env({
        "SANDBOX_LRS_CREDENTIALS": json.dumps({"acme": ["k", "s"]}), "SANDBOX_LMS_TOKENS": json.dumps({"acme": "t"}),
        "SANDBOX_SEED": json.dumps({"tenants": {"acme": {"workers": 40, "seed": 7, "live": 4},
                                                "globex": {"workers": 10}}}),
        "SANDBOX_DATA_DIR": str(tmp_path)})
    assert (settings.seed_plans["acme"].live, settings.seed_plans["globex"].live) == (4, 0)

    store = LrsStore(settings.database_path)
    before = datetime.now(UTC)
    counts = seed_tenant(store, "acme", workers=40, seed=7, authority=authority_for("acme", "k"), live=4)
    assert counts["live"] == 4
    plain = seed_tenant(LrsStore(tmp_path / "other.sqlite"), "acme", workers=40, seed=7,
                        authority=authority_for("acme", "k"))
    assert "live" not in plain and plain["statements"] == counts["statements"]
    # Stored when the LRS took them, after their completion (the history keeps its own stored times).
    with sqlite3.connect(settings.database_path) as conn:
        rows = [(stored_us, json.loads(body)) for stored_us, body in
                conn.execute("SELECT stored_us, body FROM statements WHERE tenant = 'acme'")]
    live = [(stored_us, s) for stored_us, s in rows if parse(s["timestamp"]) > before - timedelta(minutes=16)]
    assert len(live) == 4
    for stored_us, statement in live:
        assert datetime.fromtimestamp(stored_us / 1e6, UTC) >= before > parse(statement["timestamp"])
    assert seed_tenant(store, "acme", workers=40, seed=7, authority=authority_for("acme", "k"))["statements"] == 0
