"""The issuance plan: what each (worker, credential type) should get under the current rules.

Shared by issuance (which acts on it) and reconciliation (which reports what
issuance still owes). Three statements over ``credential_rules_eval`` build the
temp table ``credential_plan`` (include/sql/credentials/plan/); the two
intermediate tables are analysed so the planner sees their real sizes instead
of guessing after ``count(*) = cardinality(...)``, which turned the joins into
millions of index probes on a large tenant (docs/benchmarks.md).

``credential_plan`` holds only the candidates whose evidence has not produced a
credential of that type yet; every other candidate's decision is ``none``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

STEPS = (
    ("credentials/plan/10_met.sql", "plan_met"),
    ("credentials/plan/20_candidates.sql", "plan_candidates"),
    ("credentials/plan/30_plan.sql", None),
)


def build_plan(cur: psycopg.Cursor, params: dict[str, Any]) -> None:
    """Create ``credential_plan`` for ``params`` (tenant_id, as_of, completed_before)."""
    for path, analysed in STEPS:
        cur.execute(sql_text(path), params)
        if analysed:
            cur.execute(f"ANALYZE {analysed}")
