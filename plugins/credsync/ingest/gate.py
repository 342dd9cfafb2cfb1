"""The Great Expectations gate on a staged batch, for every source, and the refusals it raises.

A source describes its gate as a :class:`BatchGate` (suite, staging table, expectations, and any
checks on the batch as a whole that GX cannot make); :func:`gate_batch` runs it and records the
verdict on ``audit.batches`` with the source's own SQL (``<sql_dir>/mark_validated.sql`` /
``reject_batch.sql``), so a reader who learned the HRIS gate knows the LMS one.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from string import Template
from typing import TYPE_CHECKING, Any

from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

    from credsync.quality import GateResult

log = logging.getLogger(__name__)

BatchChecks = Callable[["psycopg.Connection", str, str], tuple[list[str], dict[str, Any]]]


class BatchRejected(RuntimeError):
    """The gate blocked a batch (or a merge refused one); the message carries the reason and, for a
    gate verdict, the Data Docs link. ``core`` was not touched."""


class BatchNotValidated(BatchRejected):
    """Merging was refused: the batch has not passed the gate (or does not exist)."""


@dataclass(frozen=True)
class BatchGate:
    """One source's gate: ``expectations()`` builds the GX suite (called only when GX runs);
    ``batch_checks(conn, tenant_id, batch_id)`` returns (failure lines, details for the validation
    JSON) for rules on the batch as a whole, run before GX; ``sql_dir`` holds the source's
    ``mark_validated.sql`` and ``reject_batch.sql``."""

    suite_name: str
    table: str
    sql_dir: str
    expectations: Callable[[], list[Any]]
    batch_checks: BatchChecks | None = None


def gate_batch(warehouse_url: str, gate: BatchGate, *, tenant_id: str, batch_id: str) -> GateResult:
    """Run ``gate`` on the staged batch and record the verdict on ``audit.batches``.

    Raises :class:`BatchRejected` (after recording ``rejected`` with the validation JSON and the
    Data Docs link) when the gate blocks; ``core`` is not touched either way.
    """
    from credsync.quality import run_gate
    from credsync.quality.gate import with_batch_checks
    from credsync.warehouse import connect

    failures: list[str] = []
    details: dict[str, Any] | None = None
    if gate.batch_checks is not None:
        with connect(warehouse_url) as conn:
            failures, details = gate.batch_checks(conn, tenant_id, batch_id)
            conn.rollback()
    result = run_gate(warehouse_url, suite_name=gate.suite_name, table=gate.table, batch_id=batch_id,
                      tenant_id=tenant_id, expectations=gate.expectations)
    if details is not None:
        result = with_batch_checks(result, failures, details)
    params = {"batch_id": batch_id, "validation": json.dumps(result.validation),
              "data_docs_url": result.data_docs_url}
    verdict = "mark_validated.sql" if result.success else "reject_batch.sql"
    with connect(warehouse_url) as conn:
        conn.execute(sql_text(f"{gate.sql_dir}/{verdict}"), params)
        conn.commit()
    if not result.success:
        log.error("%s", result.summary)  # the summary ends with the Data Docs link when a store is configured
        raise BatchRejected(result.summary)
    log.info("%s", result.summary)
    return result


def row_query(name: str) -> Template:
    """A GX row query from include/sql; comment lines dropped because GX embeds it in a subquery."""
    lines = [line for line in sql_text(name).splitlines() if not line.lstrip().startswith("--")]
    return Template("\n".join(lines))
