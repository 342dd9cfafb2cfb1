"""Stage one HRIS extract: map each worker record, COPY good rows, quarantine the rest."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from credsync.ingest.batches import BatchClosed, StagedBatch, open_batch
from credsync.mapping import FieldMapping, MappingError, load_mapping
from credsync.mapping.identity import DEFAULT_CASE_POLICY, canonical_id
from credsync.mapping.transforms import RULE_MAX_LENGTH
from credsync.paths import sql_text
from credsync.people.drift import DriftCheck
from credsync.quality.quarantine import record_json, storable_text

if TYPE_CHECKING:
    import psycopg

MAPPING_NAME, MAPPING_VERSION = "hris_worker", "v1"
SOURCE, STREAM = "hris", "workers"
STAGED_COLUMNS = (
    "batch_id", "tenant_id", "row_number", "employee_id", "source_system", "given_name", "family_name",
    "preferred_name", "work_email", "email_normalized", "employment_status", "employment_type",
    "hire_date", "termination_date", "rehire_date", "department", "job_title", "manager_id",
    "location", "source_updated_at", "mapping_version",
    # When the current status and job take effect (credsync.people.effective holds them until then).
    "status_effective_date", "job_effective_date",
    # The national profile's fields (include/mappings/hris_worker_national_v1.csv); NULL for other tenants.
    "national_id", "given_name_ar", "family_name_ar",
)  # fmt: skip
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnreadableRecord:
    """A source row the reader could not parse (CSV ``line``, the parser's ``error``): staging
    quarantines it under its position, so it costs its own record and never the file."""

    line: int
    error: str

    @property
    def rule(self) -> str:
        return RULE_MAX_LENGTH if "field larger than field limit" in self.error else "csv_row_shape"


def stage_workers(
    conn: psycopg.Connection,
    *,
    tenant_id: str,
    records: Iterable[Mapping[str, Any] | UnreadableRecord],
    batch_id: str | None = None,
    dag_run_id: str | None = None,
    mapping: FieldMapping | None = None,
    id_case: str = DEFAULT_CASE_POLICY,
    window_key: str | None = None,
    columns: Sequence[str | None] | None = None,
    ignored_fields: Iterable[str] = (),
    supplements: Sequence[FieldMapping] = (),
) -> StagedBatch:
    """Create (or re-stage) the batch, stream ``records`` through the mapping into ``staging.hris_workers``.

    Rows the mapping rejects go to ``audit.quarantine`` with the failed rule
    and the error naming file, row and field (idempotent per batch, record and
    rule). The not-yet-merged batch of ``window_key`` (or an explicit ``batch_id``)
    is staged again (:func:`credsync.ingest.batches.open_batch`): the
    previous attempt's rows are replaced, its parked records stay parked and
    are diverted again (the same version; a newer one loads). ``columns`` is a
    CSV header (strict layout); without it records are judged as JSON. Schema
    drift is stored on the batch for the gate (:mod:`credsync.people.drift`).
    Commits once, at the end, so a failed extract leaves no half-staged batch.
    ``employee_id`` and ``manager_id`` are canonicalised under the tenant's case
    policy ``id_case`` (``credsync.mapping.identity``), so every later step compares one form.
    ``supplements`` are mappings whose fields a tenant adds (the national profile's National ID and
    Arabic names): applied to the same record, a failure quarantines it under the supplement's rule.
    """
    mapping = mapping or load_mapping(MAPPING_NAME, MAPPING_VERSION)
    try:
        opened = open_batch(conn, tenant_id=tenant_id, source=SOURCE, stream=STREAM,
                            mapping_version=mapping.mapping_version, window_key=window_key, batch_id=batch_id,
                            dag_run_id=dag_run_id)
    except BatchClosed:
        conn.rollback()
        raise
    batch_id, attempt = opened.batch_id, opened.attempt
    parked: dict[str, set[str | None]] = {}
    if opened.retried:
        conn.execute(sql_text("people/clear_attempt.sql"), {"batch_id": batch_id})
        for key, version in conn.execute(sql_text("people/parked_records.sql"), {"batch_id": batch_id}):
            parked.setdefault(key, set()).add(version)
    shape = dataclasses.replace(mapping, rules=mapping.rules + tuple(r for m in supplements for r in m.rules))
    drift = DriftCheck(shape, ignored=frozenset(ignored_fields), columns=columns)
    rejects: list[tuple[Any, ...]] = []
    records_in = staged = diverted = 0
    with conn.cursor() as cur, cur.copy(
        f"COPY staging.hris_workers ({', '.join(STAGED_COLUMNS)}) FROM STDIN"
    ) as copy:
        for records_in, record in enumerate(records, start=1):
            key = _record_key(record) if isinstance(record, Mapping) else None
            # A keyless record still needs a stable quarantine key: its position in the extract.
            quarantine_key = storable_text(key) if key is not None else f"#{records_in}"
            drift.observe(record, key)
            if isinstance(record, UnreadableRecord):
                rejects.append((batch_id, tenant_id, quarantine_key, record.rule,
                                storable_text(f"record {records_in} (CSV line {record.line}): unreadable row: "
                                              f"{record.error}"), record_json(record.__dict__)))
                continue
            if parked and _is_parked(parked, key, id_case, record):
                diverted += 1
                continue
            if isinstance(record, Mapping) and None in record:
                # csv.DictReader puts cells beyond the header under None: the row is broken
                # (an unquoted comma shifts every later cell into the wrong column).
                rejects.append((batch_id, tenant_id, quarantine_key, "csv_row_shape",
                                storable_text(f"record {records_in} ({key}): {len(record[None])} more cells "
                                              "than the header"), record_json(record)))
                continue
            try:
                row = mapping.apply(record, record_number=records_in, record_key=key)
                for supplement in supplements:
                    row.update(supplement.apply(record, record_number=records_in, record_key=key))
            except MappingError as err:
                rejects.append((batch_id, tenant_id, quarantine_key, getattr(err, "rule", None) or "mapping",
                                storable_text(str(err)), record_json(record)))
                continue
            for column in ("employee_id", "manager_id"):
                if row.get(column) is not None:
                    row[column] = canonical_id(row[column], case=id_case)
            row.update(batch_id=batch_id, tenant_id=tenant_id, row_number=records_in,
                       mapping_version=mapping.mapping_version)
            copy.write_row(tuple(row.get(column) for column in STAGED_COLUMNS))
            staged += 1
    if rejects:
        with conn.cursor() as cur:
            cur.executemany(sql_text("people/quarantine_rows.sql"), rejects)
    found = drift.result()
    if found is not None:
        log.warning("tenant %s batch %s: %s", tenant_id, batch_id, storable_text(found.reason()))
    # Autovacuum has not seen the batch yet: without fresh stats the planner puts it at ~1 row
    # and nested-loops the merge's CTEs, which is quadratic (a 100,000-row batch takes >20 min).
    conn.execute("ANALYZE staging.hris_workers")
    conn.execute(
        sql_text("people/finish_staging.sql"),
        {"batch_id": batch_id, "records_in": records_in, "records_loaded": staged,
         "records_quarantined": len(rejects) + diverted,
         "schema_drift": record_json(found.as_dict()) if found else None},
    )
    conn.commit()
    return StagedBatch(batch_id, tenant_id, records_in, records_loaded=staged,
                       records_quarantined=len(rejects) + diverted, attempt=attempt,
                       mapping_version=mapping.mapping_version, parked=diverted,
                       schema_drift=storable_text(found.reason()) if found and found.blocking else None)


def _is_parked(parked: dict[str, set[str | None]], key: str | None, id_case: str, record: Any) -> bool:
    """The record's key is parked in this batch (as sent, or canonical as staged) at this version."""
    if key is None:
        return False
    versions = parked.get(key) or parked.get(canonical_id(key, case=id_case))
    return bool(versions) and _parked_version(record, versions)


def _parked_version(record: Mapping[str, Any], versions: set[str | None]) -> bool:
    """Whether ``record`` is the version that was parked (same HRIS ``updated_at``)."""
    raw = record.get("updated_at") if isinstance(record, Mapping) else None
    if raw in versions:
        return True
    moment = _instant(raw)
    return moment is not None and any(_instant(v) == moment for v in versions)


def _instant(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _record_key(record: Mapping[str, Any]) -> str | None:
    key = record.get("employee_id")
    return str(key).strip() if key not in (None, "") else None
