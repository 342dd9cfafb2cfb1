"""Evaluate the career-path rules for one tenant: open, withdraw and review cases in one transaction.

Set-based SQL over core (include/sql/careers/): who meets which rule today, which pending cases
lapsed (withdrawn with the reason), which granted ones lapsed (recorded for review, never demoted).
Returns the pending cases to ask about; the approval run id is the case's, so asking twice for one
case starts one run. Plain Python: no Airflow.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from credsync.careers.rules import CareerPathRules
from credsync.paths import sql_text

log = logging.getLogger(__name__)
# More pending cases than this in one tenant: the rest are asked by the next run (daily and on every
# credentials change), so one mass issue cannot map thousands of trigger tasks at once.
MAX_ASKS_PER_RUN = 500


@dataclass
class Evaluation:
    tenant_id: str
    as_of: str
    met: int = 0
    opened: int = 0
    withdrawn: int = 0
    reviews_opened: int = 0
    reviews_resolved: int = 0
    asks: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_tenant(warehouse_url: str, tenant_id: str, rules: CareerPathRules, *, as_of: date | None = None,
                    run_id: str | None = None, max_asks: int = MAX_ASKS_PER_RUN) -> Evaluation:
    """Bring ``tenant_id``'s cases in line with ``rules`` as of ``as_of`` (default today, UTC)."""
    from credsync.warehouse import connect

    day = as_of or datetime.now(UTC).date()
    params = {"tenant_id": tenant_id, "rules": rules.sql_rows(), "as_of": day, "run_id": run_id}
    result = Evaluation(tenant_id, day.isoformat())
    with connect(warehouse_url) as conn:
        # One evaluation per tenant at a time: two would both see a case as new.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('career_path_eligibility'), hashtext(%s))",
                     (tenant_id,))
        conn.execute(sql_text("careers/met.sql"), params)
        result.met = conn.execute("SELECT count(*) FROM career_met").fetchone()[0]
        result.opened = len(conn.execute(sql_text("careers/open.sql"), params).fetchall())
        conn.execute(sql_text("careers/lapsed.sql"), params)
        result.withdrawn = len(conn.execute(sql_text("careers/withdraw.sql"), params).fetchall())
        result.reviews_opened = len(conn.execute(sql_text("careers/review.sql"), params).fetchall())
        result.reviews_resolved = len(conn.execute(sql_text("careers/resolve_reviews.sql"), params).fetchall())
        rows = conn.execute(sql_text("careers/asks.sql"), {"tenant_id": tenant_id, "limit": max_asks}).fetchall()
        conn.commit()
    result.asks = [{"tenant_id": tenant_id, "case_id": case_id, "ask": ask, "trigger_run_id": run}
                   for case_id, ask, run in rows]
    log.info("tenant %s: %s", tenant_id, {k: v for k, v in result.as_dict().items() if k != "asks"}
             | {"asks": len(result.asks)})
    return result
