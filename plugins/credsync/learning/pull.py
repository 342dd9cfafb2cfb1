"""One tenant's pull: LRS statements + LMS REST completions → one staged batch."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from credsync.ingest.batches import StagedBatch
from credsync.ingest.watermarks import Stream
from credsync.learning.normalise import (
    LMS_MAPPING,
    XAPI_MAPPING,
    StagedCompletion,
    escape_text,
    find_unstorable,
    normalise_lms_completion,
    normalise_statement,
    storable_copy,
)
from credsync.learning.staging import stage_completions

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

LRS_STREAM = Stream("lrs", "statements")
LMS_STREAM = Stream("lms", "completions")


@dataclass
class PullOutcome:
    """The staged batch plus where each stream resumes once the batch is merged."""

    batch: StagedBatch
    watermarks: dict[tuple[str, str], str] = field(default_factory=dict)
    skipped_in_progress: int = 0

    def as_counts(self) -> dict[str, object]:
        return {**self.batch.as_counts(), "skipped_in_progress": self.skipped_in_progress,
                "watermarks": {f"{s}.{t}": w for (s, t), w in self.watermarks.items()}}


def stage_pull(
    conn: psycopg.Connection,
    *,
    tenant_id: str,
    statements: Iterable[dict[str, Any]],
    lms_items: Iterable[dict[str, Any]] = (),
    dag_run_id: str | None = None,
    now: datetime | None = None,
    window_key: str | None = None,
) -> tuple[StagedBatch, int]:
    """Normalise and stage both sources as one batch; returns (batch, in-progress items skipped).

    The batch is the window's (``window_key``, by default :func:`pull_window` of the two
    sources): a pull of a window whose batch the gate refused re-stages that batch, so its
    quarantine is written once per (window, record, rule) however often it is retried.
    """
    now = now or datetime.now(UTC)
    window_key = window_key or pull_window(statements, lms_items)
    skipped = 0

    def records() -> Iterator[StagedCompletion]:
        nonlocal skipped
        row_number = 0
        for statement in statements:
            row_number += 1
            yield _guarded(normalise_statement, statement, "xapi", row_number, tenant_id=tenant_id, now=now)
        for item in _latest_per_enrollment(lms_items):
            staged = _guarded(normalise_lms_completion, item, "lms_rest", row_number + 1, now=now)
            if staged is None:
                skipped += 1
                continue
            row_number += 1
            yield staged

    version = f"{XAPI_MAPPING[0]}_{XAPI_MAPPING[1]}+{LMS_MAPPING[0]}_{LMS_MAPPING[1]}"
    # Statement ids are deduplicated in staging (SQL), so the pull keeps no set of them; a source
    # that counts what it saw (StatementSync, StatementPull) hears how many repeats were dropped.
    batch = stage_completions(conn, tenant_id=tenant_id, records=records(), mapping_version=version,
                              dag_run_id=dag_run_id, window_key=window_key,
                              on_repeated=getattr(statements, "note_repeated", None))
    return batch, skipped


def pull_window(statements: Iterable[Any], lms_items: Iterable[Any] = ()) -> str | None:
    """What a pull covers, as ``audit.batches.window_key``: where each pulled stream starts,
    e.g. ``lrs.statements since=2025-05-01T10:00:01.000000Z; lms.completions updated_since=start``.

    Read from the sources themselves (``StatementPull.since``, ``CompletionExport.updated_since``,
    None = from the start), so a full pull is the window from the start whatever the
    watermark. An empty list or tuple is a stream not pulled. A source that does not say where
    it starts (a plain list of records) gives None: the pull is a batch of its own.
    """
    parts = []
    for stream, source, attribute in ((LRS_STREAM, statements, "since"), (LMS_STREAM, lms_items, "updated_since")):
        if isinstance(source, list | tuple) and not source:
            continue
        if hasattr(source, "window_part"):  # a StatementSync names its overlap and reconciliation itself
            parts.append(f"{stream[0]}.{stream[1]} {source.window_part}")
            continue
        if not hasattr(source, attribute):
            return None
        parts.append(f"{stream[0]}.{stream[1]} {attribute}={getattr(source, attribute) or 'start'}")
    return "; ".join(parts) or None


def _guarded(normalise: Callable[..., StagedCompletion | None], record: Any, source: str, row_number: int,
             **kwargs: Any) -> StagedCompletion | None:
    """Run one normaliser; if it fails on a record (a bug, not a data rule), that record alone is
    quarantined as normalise_error with the exception named, and the batch goes on."""
    try:
        return normalise(record, row_number=row_number, **kwargs)
    except Exception as exc:  # one record must never stop the tenant; the log keeps the traceback
        key_field = "id" if source == "xapi" else "enrollment_id"
        key = record.get(key_field) if isinstance(record, dict) else None
        log.exception("normalising %s record #%s (%r) failed; quarantined", source, row_number, key)
        findings = find_unstorable(record)
        return StagedCompletion(
            row_number=row_number, source=source, source_id=escape_text(str(key)) if key else None,
            actor_key=None, course_code=None, verb=None, voids_source_id=None, success=None, score=None,
            completed_at=None, stored_at=None, registration=None,
            raw=storable_copy(record, findings) if findings else record,
            mapping_version=f"{XAPI_MAPPING[0]}_{XAPI_MAPPING[1]}" if source == "xapi"
            else f"{LMS_MAPPING[0]}_{LMS_MAPPING[1]}",
            quarantine_rule="normalise_error",
            quarantine_reason=escape_text(f"{source} record {key or '#' + str(row_number)}: the normaliser failed"
                                          f" ({type(exc).__name__}: {exc}); see the task log, fix and replay"),
        )


def _latest_per_enrollment(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """An enrollment seen twice in one export (it changed mid-pull) counts once: its latest version."""
    latest: dict[str, dict[str, Any]] = {}
    keyless: list[dict[str, Any]] = []
    for item in items:
        key = item.get("enrollment_id") if isinstance(item, dict) else None
        if not key or not isinstance(key, str | int):  # a list or object as id cannot key a dict
            keyless.append(item)  # the normaliser quarantines it
            continue
        if key not in latest or str(item.get("updated_at", "")) >= str(latest[key].get("updated_at", "")):
            latest[key] = item
    return [*latest.values(), *keyless]
