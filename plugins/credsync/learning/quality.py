"""The GX gate for staged completion batches and its thresholds.

Row-level rules already quarantined rejects (``staging.completions.quarantine_rule``);
the gate re-checks the same rules in Postgres and blocks the whole batch when
more than ``max_quarantine_share`` of it is bad: a few bad statements are noise,
many mean the source is broken and nothing should reach ``core``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from string import Template
from typing import TYPE_CHECKING, Any

from credsync.learning.normalise import KNOWN_VERBS
from credsync.paths import sql_text

if TYPE_CHECKING:
    from credsync.quality import GateResult

log = logging.getLogger(__name__)

STAGING_TABLE = "staging.completions"


class BatchRejected(RuntimeError):
    """The gate blocked a batch; the message is the gate summary (with the Data Docs link)."""


@dataclass(frozen=True)
class CompletionGateThresholds:
    """Tunable per DAG run through params; defaults are the documented policy."""

    suite_name: str = "lms_completions"
    max_quarantine_share: float = 0.05

    def __post_init__(self) -> None:
        if not 0 <= self.max_quarantine_share < 1:
            raise ValueError(f"max_quarantine_share must be in [0, 1), got {self.max_quarantine_share}")


def completion_expectations(thresholds: CompletionGateThresholds) -> list[Any]:
    """GX expectations for one staged batch; each carries ``meta.rule`` for the log."""
    import great_expectations as gx

    ex = gx.expectations
    mostly = 1 - thresholds.max_quarantine_share
    return [
        ex.UnexpectedRowsExpectation(
            unexpected_rows_query=_query("learning/gx_duplicate_ids.sql").substitute(),
            description="statement / enrollment ids are unique within the batch",
            meta={"rule": "unique_source_id"},
        ),
        ex.ExpectColumnValuesToBeInSet(column="verb", value_set=list(KNOWN_VERBS), mostly=mostly,
                                       meta={"rule": "known_verb"}),
        ex.ExpectColumnValuesToNotBeNull(column="verb", mostly=mostly, meta={"rule": "known_verb"}),
        ex.ExpectColumnValuesToBeBetween(column="score", min_value=0, max_value=100, mostly=mostly,
                                         meta={"rule": "score_in_range"}),
        ex.UnexpectedRowsExpectation(
            unexpected_rows_query=_query("learning/gx_rule_share.sql").substitute(
                max_share=float(thresholds.max_quarantine_share)
            ),
            description=(
                f"at most {thresholds.max_quarantine_share:.0%} of the batch is quarantined "
                "(missing actor, future timestamp, unknown verb, score out of range, bad activity)"
            ),
            meta={"rule": "quarantine_share"},
        ),
    ]


def gate_batch(
    warehouse_url: str, *, tenant_id: str, batch_id: str, thresholds: CompletionGateThresholds
) -> GateResult:
    """Run the suite and record the verdict on audit.batches; raise BatchRejected when blocked."""
    from credsync.quality import run_gate
    from credsync.warehouse import connect

    result = run_gate(
        warehouse_url, suite_name=thresholds.suite_name, table=STAGING_TABLE, batch_id=batch_id,
        tenant_id=tenant_id, expectations=lambda: completion_expectations(thresholds),
    )
    params = {"batch_id": batch_id, "validation": json.dumps(result.validation),
              "data_docs_url": result.data_docs_url}
    with connect(warehouse_url) as conn:
        conn.execute(sql_text("learning/mark_validated.sql" if result.success else "learning/reject_batch.sql"),
                     params)
        conn.commit()
    if not result.success:
        log.error("%s", result.summary)  # the summary ends with the Data Docs link when a store is configured
        raise BatchRejected(result.summary)
    log.info("%s", result.summary)
    return result


def _query(name: str) -> Template:
    """A GX row query from include/sql; comment lines dropped because GX embeds it in a subquery."""
    lines = [line for line in sql_text(name).splitlines() if not line.lstrip().startswith("--")]
    return Template("\n".join(lines))
