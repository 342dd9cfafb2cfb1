"""Stage one HRIS extract: map each worker record, COPY good rows, quarantine the rest."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from credsync.mapping import FieldMapping, MappingError, load_mapping
from credsync.mapping.identity import DEFAULT_CASE_POLICY, canonical_id
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

MAPPING_NAME, MAPPING_VERSION = "hris_worker", "v1"
STAGED_COLUMNS = (
    "batch_id", "tenant_id", "row_number", "employee_id", "source_system", "given_name", "family_name",
    "preferred_name", "work_email", "email_normalized", "employment_status", "employment_type",
    "hire_date", "termination_date", "rehire_date", "department", "job_title", "manager_id",
    "location", "source_updated_at", "mapping_version",
)  # fmt: skip


@dataclass(frozen=True)
class StagedBatch:
    """What staging did with one extract (small: goes to XCom as a dict)."""

    batch_id: str
    tenant_id: str
    records_in: int
    staged: int
    quarantined: int
    mapping_version: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def stage_workers(
    conn: psycopg.Connection,
    *,
    tenant_id: str,
    records: Iterable[Mapping[str, Any]],
    batch_id: str | None = None,
    dag_run_id: str | None = None,
    mapping: FieldMapping | None = None,
    id_case: str = DEFAULT_CASE_POLICY,
) -> StagedBatch:
    """Create the batch, stream ``records`` through the mapping into ``staging.hris_workers``.

    Rows the mapping rejects go to ``audit.quarantine`` with the rule
    ``mapping`` and the error naming file, row and field. Commits once, at
    the end, so a failed extract leaves no half-staged batch. ``employee_id``
    and ``manager_id`` are canonicalised under the tenant's case policy
    ``id_case`` (``credsync.mapping.identity``), so every later step compares one form.
    """
    mapping = mapping or load_mapping(MAPPING_NAME, MAPPING_VERSION)
    batch_id = batch_id or str(uuid.uuid4())
    conn.execute(
        sql_text("people/create_batch.sql"),
        {"batch_id": batch_id, "tenant_id": tenant_id, "mapping_version": mapping.mapping_version,
         "dag_run_id": dag_run_id},
    )
    rejects: list[tuple[Any, ...]] = []
    records_in = staged = 0
    with conn.cursor() as cur, cur.copy(
        f"COPY staging.hris_workers ({', '.join(STAGED_COLUMNS)}) FROM STDIN"
    ) as copy:
        for records_in, record in enumerate(records, start=1):
            key = _record_key(record)
            try:
                row = mapping.apply(record, record_number=records_in, record_key=key)
            except MappingError as err:
                rejects.append((batch_id, tenant_id, key, "mapping", str(err), json.dumps(record, default=str)))
                continue
            for column in ("employee_id", "manager_id"):
                if row.get(column) is not None:
                    row[column] = canonical_id(row[column], case=id_case)
            row.update(batch_id=batch_id, tenant_id=tenant_id, row_number=records_in,
                       mapping_version=mapping.mapping_version)
            copy.write_row(tuple(row[column] for column in STAGED_COLUMNS))
            staged += 1
    if rejects:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO audit.quarantine (batch_id, tenant_id, record_key, rule, reason, record) "
                "VALUES (%s, %s, %s, %s, %s, %s::jsonb)",
                rejects,
            )
    # Autovacuum has not seen the batch yet: without fresh stats the planner puts it at ~1 row
    # and nested-loops the merge's CTEs, which is quadratic (a 100,000-row batch takes >20 min).
    conn.execute("ANALYZE staging.hris_workers")
    conn.execute(
        sql_text("people/finish_staging.sql"),
        {"batch_id": batch_id, "records_in": records_in, "records_loaded": staged,
         "records_quarantined": len(rejects)},
    )
    conn.commit()
    return StagedBatch(batch_id, tenant_id, records_in, staged, len(rejects), mapping.mapping_version)


def _record_key(record: Mapping[str, Any]) -> str | None:
    key = record.get("employee_id")
    return str(key).strip() if key not in (None, "") else None
