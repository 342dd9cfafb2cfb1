"""The GX gate for staged completion batches and its thresholds.

Row-level rules already quarantined rejects (``staging.completions.quarantine_rule``);
the gate re-checks the same rules in Postgres and blocks the whole batch when
more than ``max_quarantine_share`` of it is bad: a few bad statements are noise,
many mean the source is broken and nothing should reach ``core``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from credsync.ingest.gate import BatchGate, row_query
from credsync.learning.normalise import KNOWN_VERBS

STAGING_TABLE = "staging.completions"


@dataclass(frozen=True)
class CompletionGateThresholds:
    """Tunable per DAG run through params; defaults are the documented policy."""

    suite_name: str = "lms_completions"
    max_quarantine_share: float = 0.05
    #: Share thresholds judge batches of at least this many records: one bad statement in a batch of
    #: three is not "the source is broken", and refusing it would stop the tenant on that record.
    min_batch_size: int = 20
    #: Records in the batch being gated (None: unknown, the shares apply).
    batch_rows: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.max_quarantine_share < 1:
            raise ValueError(f"max_quarantine_share must be in [0, 1), got {self.max_quarantine_share}")
        if self.min_batch_size < 0:
            raise ValueError(f"min_batch_size must be >= 0, got {self.min_batch_size}")

    @property
    def shares_apply(self) -> bool:
        return self.batch_rows is None or self.batch_rows >= self.min_batch_size


def completion_expectations(thresholds: CompletionGateThresholds) -> list[Any]:
    """GX expectations for one staged batch; each carries ``meta.rule`` for the log."""
    import great_expectations as gx

    ex = gx.expectations
    mostly = 1 - thresholds.max_quarantine_share
    unique = ex.UnexpectedRowsExpectation(
        unexpected_rows_query=row_query("learning/gx_duplicate_ids.sql").substitute(),
        description="statement / enrollment ids are unique within the batch",
        meta={"rule": "unique_source_id"},
    )
    if not thresholds.shares_apply:  # a small batch: its bad records are quarantined, the rest merges
        return [unique]
    return [
        unique,
        ex.ExpectColumnValuesToBeInSet(column="verb", value_set=list(KNOWN_VERBS), mostly=mostly,
                                       meta={"rule": "known_verb"}),
        ex.ExpectColumnValuesToNotBeNull(column="verb", mostly=mostly, meta={"rule": "known_verb"}),
        ex.ExpectColumnValuesToBeBetween(column="score", min_value=0, max_value=100, mostly=mostly,
                                         meta={"rule": "score_in_range"}),
        ex.UnexpectedRowsExpectation(
            unexpected_rows_query=row_query("learning/gx_rule_share.sql").substitute(
                max_share=float(thresholds.max_quarantine_share)
            ),
            description=(
                f"at most {thresholds.max_quarantine_share:.0%} of the batch is quarantined "
                "(missing actor, future timestamp, unknown verb, score out of range, bad activity)"
            ),
            meta={"rule": "quarantine_share"},
        ),
    ]


def completion_gate(thresholds: CompletionGateThresholds | None = None) -> BatchGate:
    """The completion gate (``credsync.ingest.gate.gate_batch``): the suite only; row rules already
    quarantined in staging, so no batch-level checks run before it."""
    thresholds = thresholds or CompletionGateThresholds()
    return BatchGate(suite_name=thresholds.suite_name, table=STAGING_TABLE, sql_dir="learning",
                     expectations=lambda: completion_expectations(thresholds))
