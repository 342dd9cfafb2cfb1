"""The HRIS delta export steps as plain functions; DAG tasks and tests call exactly these.

extract_and_stage → gate → merge (+ watermark). Each step takes the warehouse
URL and returns a small dict (references and counts) for XCom.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from credsync.ingest.gate import gate_batch
from credsync.ingest.watermarks import current_watermark
from credsync.paths import sql_text
from credsync.people.merge import WORKERS_STREAM, merge_batch
from credsync.people.park import ParkRequest
from credsync.people.staging import stage_workers

log = logging.getLogger(__name__)


class Export(Protocol):
    as_of: str | None

    def __iter__(self) -> Any: ...


def extract_and_stage(
    warehouse_url: str,
    *,
    tenant_id: str,
    open_export: Callable[[str | None], Export],
    full: bool = False,
    dag_run_id: str | None = None,
    id_case: str = "preserve",
    park: ParkRequest | None = None,
) -> dict[str, Any]:
    """Pull the delta since the tenant's watermark (or everything when ``full``) into a staged batch.

    An empty delta creates no batch; its ``as_of`` still becomes the next watermark.
    ``id_case`` is the tenant's identity case policy (``Tenant.identity_case``).
    A window (``updated_since``, full export, or CSV file) whose batch was rejected is
    staged again as that same batch. ``park`` (the DAG's ``park_*`` params) parks the
    named records of this tenant's rejected batch first (:mod:`credsync.people.park`).
    """
    from credsync.national.hris import hris_supplements
    from credsync.people.park import park_records
    from credsync.people.quality import load_thresholds
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        if park is not None and park.tenant_id == tenant_id:
            parked = park_records(conn, request=park)
            log.warning("tenant %s: parked %d record(s) of batch %s by %s: %s", tenant_id, len(parked.parked),
                        park.batch_id, park.parked_by, ", ".join(parked.parked))
        since = None if full else current_watermark(conn, tenant_id, WORKERS_STREAM)
        conn.commit()
        export = open_export(since)
        window_key = getattr(export, "window_key", None) or (f"updated_since={since}" if since else "full")
        result: dict[str, Any] = {"tenant_id": tenant_id, "updated_since": since, "batch_id": None,
                                  "records_in": 0, "loaded": 0, "quarantined": 0, "dead": 0}
        if window_key.startswith("file=") and conn.execute(
                sql_text("people/merged_window.sql"), {"tenant_id": tenant_id, "window_key": window_key}).fetchone():
            # A file's content is fixed: once merged, reading it again (the next run finds no newer
            # drop) would only quarantine its bad rows a second time under a new batch.
            log.info("tenant %s: %s is already merged; nothing to stage", tenant_id, window_key)
            return {**result, "watermark": export.as_of}
        records = iter(export)
        first = next(records, None)
        if first is None:
            result["watermark"] = export.as_of
            log.info("tenant %s: no HRIS changes since %s", tenant_id, since)
            return result
        # stage_workers re-stages the window's not-yet-merged batch, if there is one.
        staged = stage_workers(conn, tenant_id=tenant_id, records=itertools.chain([first], records),
                               dag_run_id=dag_run_id, id_case=id_case, window_key=window_key,
                               columns=getattr(export, "columns", None),
                               ignored_fields=load_thresholds().ignored_source_fields,
                               supplements=hris_supplements(tenant_id))
    result.update(staged.as_counts(), watermark=export.as_of)
    log.info("tenant %s: staged batch %s (attempt %d, %s): %d in, %d staged, %d quarantined (%d parked)",
             tenant_id, staged.batch_id, staged.attempt, window_key, staged.records_in, staged.records_loaded,
             staged.records_quarantined, staged.parked)
    return result


def gate(warehouse_url: str, staged: dict[str, Any]) -> dict[str, Any]:
    """Run the GX gate on a staged batch (no-op without one); raises
    :class:`credsync.ingest.gate.BatchRejected` when blocked."""
    from credsync.people.quality import worker_gate

    if not staged.get("batch_id"):
        return {**staged, "gate": "skipped"}
    result = gate_batch(warehouse_url, worker_gate(), tenant_id=staged["tenant_id"], batch_id=staged["batch_id"])
    return {**staged, "gate": "passed", "data_docs_url": result.data_docs_url}


def merge(warehouse_url: str, gated: dict[str, Any]) -> dict[str, Any]:
    """Merge the validated batch and advance the watermark in the same transaction."""
    from credsync.people.merge import advance_watermark
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        if not gated.get("batch_id"):
            if gated.get("watermark"):
                advance_watermark(conn, tenant_id=gated["tenant_id"], watermark=gated["watermark"], batch_id=None)
                conn.commit()
            return {"tenant_id": gated["tenant_id"], "records_in": 0, "loaded": 0, "quarantined": 0,
                    "inserted": 0, "updated": 0, "changed": False}
        merged = merge_batch(conn, tenant_id=gated["tenant_id"], batch_id=gated["batch_id"],
                             watermark=gated.get("watermark"))
    return {
        "tenant_id": gated["tenant_id"], "batch_id": gated["batch_id"], "records_in": gated["records_in"],
        "loaded": gated["loaded"], "quarantined": gated["quarantined"], "inserted": merged.inserted,
        "updated": merged.updated, "changed": bool(merged.inserted or merged.updated),
    }


def park_request(params: dict[str, Any], run_id: str | None) -> ParkRequest | None:
    """The DAG's ``park_*`` params as a :class:`ParkRequest` (None when no batch is named)."""
    batch_id = str(params.get("park_batch_id") or "").strip()
    if not batch_id:
        return None
    tenant_id = str(params.get("park_tenant") or "").strip()
    if not tenant_id:
        raise ValueError("park_batch_id is set but park_tenant is empty: name the batch's tenant")
    return ParkRequest(tenant_id=tenant_id, batch_id=batch_id,
                       record_keys=tuple(str(k) for k in params.get("park_records") or ()),
                       all_quarantined=bool(params.get("park_all_quarantined")),
                       parked_by=f"dag_run:{run_id}" if run_id else "dag_run",
                       note=str(params.get("park_note") or "") or None)


def csv_export(path: Any) -> Callable[[str | None], Export]:
    """An ``open_export`` for the file-drop path: one CSV file is one batch (``since`` is ignored).

    ``path`` is an ``ObjectStoragePath`` (:func:`credsync.people.filedrop.latest_drop`) or a local
    ``Path``; None is an empty export.

    ``columns`` (the header) makes staging judge the file's layout strictly (schema drift);
    ``window_key`` names the file, so a rejected file is retried as the same batch.
    """
    from credsync.people.filedrop import read_worker_csv, worker_csv_header

    class _CsvExport:
        as_of: str | None = None
        columns = worker_csv_header(path) if path else None
        window_key = f"file={path.name}" if path else None

        def __iter__(self) -> Iterable[dict[str, Any]]:
            return iter(read_worker_csv(path)) if path else iter(())

    return lambda _since: _CsvExport()
