"""Staging a pull of learning records: one batch, COPY into staging.completions, quarantine, counts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from credsync.ingest.batches import StagedBatch, open_batch
from credsync.learning.normalise import StagedCompletion, escape_text, find_unstorable, storable_copy
from credsync.paths import sql_text
from credsync.quality.quarantine import MAX_STORED_TEXT, capped

if TYPE_CHECKING:
    import psycopg

STAGING_TABLE = "staging.completions"
SOURCE, STREAM = "lms", "completions"
_COLUMNS = (
    "batch_id", "tenant_id", "row_number", "source", "source_id", "actor_key", "course_code", "verb",
    "voids_source_id", "success", "score", "completed_at", "stored_at", "registration", "raw",
    "mapping_version", "quarantine_rule", "quarantine_reason",
)  # fmt: skip
_TEXT_FIELDS = ("source_id", "actor_key", "course_code", "verb", "voids_source_id", "registration",
                "quarantine_rule", "quarantine_reason")  # fmt: skip
# What Postgres cannot take at all: NUL (text and jsonb) and lone surrogates (no UTF-8 form). In the
# JSON text of ``raw`` NUL appears as its escape (a hit may be an escaped backslash: rechecked) and a
# lone surrogate as itself. Tested as a substring and, only for non-ASCII text, one character class:
# an alternation regex over every statement's text cost more than the rest of staging a row.
_NUL_ESCAPE = "\\u0000"
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refused_in_json(text: str) -> bool:
    return _NUL_ESCAPE in text or (not text.isascii() and _SURROGATE.search(text) is not None)


def _refused_in_columns(values: Iterable[Any]) -> bool:
    """Any NUL or lone surrogate in the text columns (one joined scan rather than one per column)."""
    joined = "".join(value for value in values if isinstance(value, str))
    return "\x00" in joined or (not joined.isascii() and _SURROGATE.search(joined) is not None)


def stage_completions(
    conn: psycopg.Connection,
    *,
    tenant_id: str,
    records: Iterable[StagedCompletion],
    mapping_version: str,
    dag_run_id: str | None = None,
    batch_id: str | None = None,
    window_key: str | None = None,
    on_repeated: Callable[[int], None] | None = None,
) -> StagedBatch:
    """Create a batch, COPY ``records`` into staging and quarantine the rejected ones, in one transaction.

    A statement id staged more than once keeps its first row only
    (``learning/drop_repeated_statements.sql``); ``on_repeated`` is told how many copies went.

    The not-yet-merged batch of ``window_key`` (or an explicit ``batch_id``) is staged again
    rather than a new one made (:func:`credsync.ingest.batches.open_batch`): the previous
    attempt's staged rows and quarantine are replaced, so retrying a refused pull adds no
    quarantine rows. Without a ``window_key`` every call is a new batch.
    """
    require_idle(conn, "stage_completions")
    with conn.transaction(), conn.cursor() as cur:
        opened = open_batch(cur, tenant_id=tenant_id, source=SOURCE, stream=STREAM, mapping_version=mapping_version,
                            window_key=window_key, batch_id=batch_id, dag_run_id=dag_run_id)
        batch_id = opened.batch_id
        if opened.retried:
            cur.execute(sql_text("learning/clear_attempt.sql"), {"batch_id": batch_id})
        with cur.copy(f"COPY {STAGING_TABLE} ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
            for record in records:
                record, raw_json = storable(record)
                copy.write_row((
                    batch_id, tenant_id, record.row_number, record.source, record.source_id, record.actor_key,
                    record.course_code, record.verb, record.voids_source_id, record.success, record.score,
                    record.completed_at, record.stored_at, record.registration,
                    raw_json, record.mapping_version, record.quarantine_rule, record.quarantine_reason,
                ))
        cur.execute(sql_text("learning/drop_repeated_statements.sql"), {"batch_id": batch_id})
        if on_repeated is not None:
            on_repeated(max(cur.rowcount, 0))
        # Before quarantine_rows.sql: a conflicting re-sent statement is quarantined like any other reject.
        cur.execute(sql_text("learning/conflicting_duplicates.sql"), {"batch_id": batch_id, "tenant_id": tenant_id})
        _cap_quarantined(cur, batch_id)
        cur.execute(sql_text("learning/quarantine_rows.sql"), {"batch_id": batch_id})
        cur.execute(sql_text("learning/finish_staging.sql"), {"batch_id": batch_id})
        records_in, loaded, quarantined, dead = cur.fetchone()
    return StagedBatch(batch_id, tenant_id, records_in, loaded, quarantined, dead, attempt=opened.attempt,
                       mapping_version=mapping_version)


def _cap_quarantined(cur: psycopg.Cursor, batch_id: str) -> None:
    """Cut the staged copy of each large quarantined record the way audit.quarantine stores records
    (:func:`credsync.quality.quarantine.capped`: long strings cut with length and sha256, a huge
    record replaced by a stub), so a 10 MB statement is not stored whole. Only rows whose JSON text
    is longer than the string limit can hold a string over it; ordinary rejects are not read back."""
    rows = cur.execute(sql_text("learning/large_quarantined.sql"),
                       {"batch_id": batch_id, "min_length": MAX_STORED_TEXT}).fetchall()
    updates = []
    for row_number, raw in rows:
        kept = capped(raw)
        if kept != raw:
            updates.append((json.dumps(kept, ensure_ascii=False), batch_id, row_number))
    if updates:
        cur.executemany(sql_text("learning/cap_quarantined.sql"), updates)


def storable(record: StagedCompletion) -> tuple[StagedCompletion, str]:
    """``record`` and the JSON text of its ``raw``, such that COPY cannot fail on either.

    The normalisers already quarantine unstorable text (see
    :func:`credsync.learning.normalise.find_unstorable`); this is the last line for a record
    built elsewhere: one NUL must cost its own record, never the batch. The check on the
    serialised text is cheap; only a suspicious record is walked field by field.
    """
    raw_json = record.raw_json
    if raw_json is None:
        try:
            raw_json = json.dumps(record.raw, default=str, allow_nan=False, ensure_ascii=False)
        except ValueError:  # NaN / Infinity: not JSON, jsonb refuses them
            raw_json = None
    columns = {name: getattr(record, name) for name in _TEXT_FIELDS}
    if raw_json is not None and not _refused_in_json(raw_json) and not _refused_in_columns(columns.values()):
        return record, raw_json
    findings = find_unstorable({**columns, "raw": record.raw})
    if not findings:  # an escaped backslash looked like an escape
        return record, raw_json or json.dumps(record.raw, default=str, ensure_ascii=False)
    safe: dict[str, Any] = {name: escape_text(value) if isinstance(value, str) else value
                            for name, value in columns.items()}
    key = escape_text(str(record.source_id)) if record.source_id else f"{record.source}#{record.row_number}"
    listed = "; ".join(f"{f.field}: {f.what} [{f.rule}]" for f in findings[:5])
    reason = f"record {key}: {listed} - not storable; fix the record at its source"
    fixed = replace(record, **safe, raw=storable_copy(record.raw, findings), raw_json=None)
    if fixed.quarantine_rule is None:
        fixed.quarantine_rule, fixed.quarantine_reason = findings[0].rule, reason
    else:  # keep the rule that rejected it first, and say what else had to be escaped
        fixed.quarantine_reason = f"{fixed.quarantine_reason} (also: {reason})"
    return fixed, json.dumps(fixed.raw, ensure_ascii=False)


def require_idle(conn: psycopg.Connection, what: str) -> None:
    """Refuse to run inside a caller's open transaction: ``conn.transaction()`` would then only be a
    savepoint, and the work would not be committed (nor visible to the GX gate's own connection)."""
    from psycopg.pq import TransactionStatus

    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise RuntimeError(f"{what} manages its own transaction; commit or roll back first (or use autocommit)")
