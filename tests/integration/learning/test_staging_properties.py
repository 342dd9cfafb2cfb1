"""Property, against the real warehouse: any pull (statements and LMS items of any shape) stages
without raising, every record ends staged or quarantined with a rule and a reason naming it, and
the counts reconcile (in = loaded + quarantined + dead)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credsync.learning.pull import stage_pull
from credsync.warehouse import connect
from tests.unit.learning.test_normalise_properties import json_like, statements

pytestmark = pytest.mark.slow
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TENANT = "acme"


@st.composite
def pulls(draw: st.DrawFn) -> tuple[list[Any], list[Any]]:
    """A page of statements with distinct ids (the LRS hook dedupes by id) and some LMS items."""
    batch, seen = [], set()
    for statement in draw(st.lists(statements(), max_size=8)):
        key = statement.get("id") if isinstance(statement, dict) else None
        if isinstance(key, str | int) and key in seen:
            continue
        if isinstance(key, str | int):
            seen.add(key)
        batch.append(statement)
    items = draw(st.lists(st.one_of(json_like, st.fixed_dictionaries({
        "enrollment_id": st.one_of(st.sampled_from(["enr-1", "enr-2"]), json_like),
        "user_external_id": st.one_of(st.just("E1"), json_like), "course_code": st.one_of(st.just("CPR-1"), json_like),
        "completion_status": st.sampled_from(["completed", "incomplete", "weird"]),
        "completed_at": st.one_of(st.just("2025-05-01T10:00:00Z"), json_like),
        "updated_at": st.one_of(st.just("2025-05-01T10:00:00Z"), json_like)})), max_size=3))
    return batch, items


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(pull=pulls())
def test_any_pull_stages_every_record_or_quarantines_it_with_a_reason(warehouse_url, pull) -> None:
    statements_, items = pull
    with connect(warehouse_url, autocommit=True) as conn:
        batch, skipped = stage_pull(conn, tenant_id=TENANT, statements=statements_, lms_items=items, now=NOW)
        assert batch.records_in == batch.records_loaded + batch.records_quarantined + batch.records_dead
        assert batch.records_in + skipped <= len(statements_) + len(items)
        assert batch.records_in >= len(statements_)
        rows = conn.execute(
            "SELECT s.record_key, s.quarantine_rule, q.rule, q.reason FROM staging.completions AS s"
            " LEFT JOIN audit.quarantine AS q ON q.batch_id = s.batch_id AND q.record_key = s.record_key"
            "  AND q.rule = s.quarantine_rule"
            " WHERE s.batch_id = %s", (batch.batch_id,)).fetchall()
        assert len(rows) == batch.records_in
        for record_key, staged_rule, rule, reason in rows:
            assert record_key
            if staged_rule is not None:
                assert rule == staged_rule and reason and reason.strip(), (record_key, staged_rule)
