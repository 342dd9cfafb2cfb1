"""The Great Expectations gate: validate one staged batch in Postgres before it may touch ``core``.

Generic over staging tables: any table with ``tenant_id`` and ``batch_id``
columns can be gated. The GX file project under ``great_expectations/`` holds
one SQL datasource (``credsync_warehouse``), one table asset per gated table
with a batch definition partitioned on ``(tenant_id, batch_id)``, the suite,
a validation definition and a checkpoint that updates Data Docs. Everything is
written with ``add_or_update``, so re-running with the same expectations
leaves the committed files as they were; only ``uncommitted/`` (validation
results, Data Docs) grows.

The datasource's connection string is the config variable
``${CREDSYNC_GX_WAREHOUSE_URL}``, set in-process from the caller's URL: the
warehouse address and password never land in the project files.

Validation runs as SQL in Postgres (SQLAlchemy execution engine), never by
loading the batch into pandas.

A failed expectation names the records that broke it: gated tables declare
their record key (:data:`KEY_COLUMNS`), the checkpoint asks GX for the
``COMPLETE`` result with those ``unexpected_index_column_names``, and the log
line reads ``<rule>: N offending records, e.g. E000123 (hire_date … after …), …``
(up to :data:`EXAMPLES` keys; the stored validation JSON holds up to GX's 200).
Row queries (``UnexpectedRowsExpectation``) select the key columns and,
optionally, a ``problem`` column saying what is wrong with the row.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from credsync.paths import GX_DIR

log = logging.getLogger(__name__)

DATASOURCE_NAME = "credsync_warehouse"
URL_VARIABLE = "CREDSYNC_GX_WAREHOUSE_URL"
BATCH_DEFINITION = "tenant_batch"
ExpectationsArg = Sequence[Any] | Callable[[], Sequence[Any]]
#: How each gated table names a record: the business key first, the staged row as fallback.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "staging.hris_workers": ("employee_id", "row_number"),
    "staging.completions": ("source_id", "row_number"),
}
#: Offending records named per failed expectation in the log line.
EXAMPLES = 5


@dataclass(frozen=True)
class GateResult:
    """What a gate decided about one batch.

    ``summary`` is one human line for the task log; ``failed`` one line per
    failed expectation; ``validation`` the full GX result JSON (stored on
    ``audit.batches.validation``); ``data_docs_url`` the local Data Docs page.
    """

    success: bool
    summary: str
    failed: list[str]
    statistics: dict[str, Any]
    data_docs_url: str | None
    validation: dict[str, Any] = field(default_factory=dict, repr=False)
    label: str = ""


def with_batch_checks(result: GateResult, failures: Sequence[str], details: dict[str, Any]) -> GateResult:
    """``result`` with checks the caller made outside GX (e.g. on an empty staged batch) folded in.

    ``failures`` are log-line descriptions like the GX ones; ``details`` is kept on the
    validation JSON under ``credsync_batch_checks``.
    """
    validation = {**result.validation, "credsync_batch_checks": details}
    if not failures:
        return GateResult(result.success, result.summary, result.failed, result.statistics, result.data_docs_url,
                          validation, result.label)
    failed = [*failures, *result.failed]
    stats = result.statistics
    summary = (f"{result.label}: BLOCKED ({stats.get('successful_expectations', 0)}/"
               f"{stats.get('evaluated_expectations', 0)} expectations met, {len(failures)} batch check(s) failed)"
               f"; failed: {'; '.join(failed)}")
    if result.data_docs_url:
        summary += f"; Data Docs: {result.data_docs_url}"
    return GateResult(False, summary, failed, stats, result.data_docs_url, validation, result.label)


def run_gate(
    warehouse_url: str,
    *,
    suite_name: str,
    table: str,
    batch_id: str,
    tenant_id: str,
    expectations: ExpectationsArg,
    project_dir: Path = GX_DIR,
    key_columns: Sequence[str] | None = None,
) -> GateResult:
    """Validate the rows of ``table`` with ``(tenant_id, batch_id)`` against ``expectations``.

    ``table`` is ``schema.table``; ``expectations`` is a list of GX 1.x
    expectation objects, or a zero-argument callable returning one (so
    callers can build them lazily from their thresholds config).
    ``key_columns`` name a record in failure messages (default: :data:`KEY_COLUMNS`).
    """
    from great_expectations.checkpoint import UpdateDataDocsAction

    import great_expectations as gx
    from credsync.warehouse import sqlalchemy_url

    schema, _, table_name = table.partition(".")
    if not table_name:
        raise ValueError(f"table must be schema-qualified (schema.table), got {table!r}")
    items = list(expectations() if callable(expectations) else expectations)
    if not items:
        raise ValueError(f"gate {suite_name!r}: no expectations given")

    keys = tuple(KEY_COLUMNS.get(table, ()) if key_columns is None else key_columns)
    label = f"GX gate {suite_name} on {table} tenant={tenant_id} batch={batch_id}"
    if _staged_rows(warehouse_url, table, tenant_id, batch_id) == 0:
        # GX finds no batch to validate in zero rows: nothing here to fail. Callers judge an
        # empty batch on their own counts (e.g. every record quarantined), see with_batch_checks.
        return GateResult(success=True, summary=f"{label}: staged batch is empty; no expectation to evaluate",
                          failed=[], statistics={}, data_docs_url=None, label=label)
    os.environ[URL_VARIABLE] = sqlalchemy_url(warehouse_url)
    with _project_lock(project_dir):
        context = _file_context(project_dir)
        batch_definition = _batch_definition(context, schema, table_name)
        suite = _suite(context, suite_name, items)
        name = f"{suite_name}__{table}"
        result_format = _result_format(keys)
        try:
            checkpoint = context.checkpoints.get(name)
        except Exception:  # GX raises different not-found errors per store; any miss means "create"
            validation = context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
            )
            checkpoint = context.checkpoints.add_or_update(
                gx.Checkpoint(
                    name=name,
                    validation_definitions=[validation],
                    actions=[UpdateDataDocsAction(name="update_data_docs")],
                    result_format=result_format,
                )
            )
        if _result_format_of(checkpoint) != result_format:
            # Rewritten only when it changed (the committed checkpoint already matches).
            checkpoint.result_format = result_format
            checkpoint = context.checkpoints.add_or_update(checkpoint)
        run = checkpoint.run(
            batch_parameters={"tenant_id": tenant_id, "batch_id": _batch_key(batch_id)},
            run_id=_run_id(suite_name, tenant_id, batch_id),
        )
        identifier, result = next(iter(run.run_results.items()))
        docs_url = _docs_url(context, identifier)
    return _summarise(label, result.to_json_dict(), docs_url, keys)


def _result_format(keys: Sequence[str]) -> dict[str, Any]:
    """COMPLETE with index columns when the table has a record key (so failures name records)."""
    if not keys:
        return {"result_format": "SUMMARY", "partial_unexpected_count": 5}
    return {"result_format": "COMPLETE", "unexpected_index_column_names": list(keys),
            "partial_unexpected_count": 20, "return_unexpected_index_query": False}


def _result_format_of(checkpoint: Any) -> dict[str, Any]:
    value = checkpoint.result_format
    if hasattr(value, "to_json_dict"):
        value = value.to_json_dict()
    elif hasattr(value, "dict"):
        value = value.dict()
    return dict(value) if isinstance(value, dict) else {"result_format": str(value)}


def _staged_rows(warehouse_url: str, table: str, tenant_id: str, batch_id: str) -> int:
    from psycopg import sql

    from credsync.warehouse import connect

    schema, _, name = table.partition(".")
    query = sql.SQL("SELECT count(*) FROM {} WHERE tenant_id = %s AND batch_id = %s").format(
        sql.Identifier(schema, name))
    with connect(warehouse_url) as conn:
        return conn.execute(query, (tenant_id, str(batch_id))).fetchone()[0]


def _batch_definition(context: Any, schema: str, table_name: str) -> Any:
    """The ``(tenant_id, batch_id)`` batch definition of the table asset, created on first use.

    Looked up before written so that a steady-state run does not rewrite
    great_expectations.yml (GX assigns fresh ids on every add_or_update).
    """
    from great_expectations.core.partitioners import PartitionerMultiColumnValue

    try:
        datasource = context.data_sources.get(DATASOURCE_NAME)
    except (KeyError, ValueError, LookupError):
        datasource = context.data_sources.add_postgres(
            name=DATASOURCE_NAME, connection_string="${" + URL_VARIABLE + "}"
        )
    asset_name = f"{schema}.{table_name}"
    try:
        asset = datasource.get_asset(asset_name)
    except LookupError:
        asset = datasource.add_table_asset(name=asset_name, table_name=table_name, schema_name=schema)
    try:
        return asset.get_batch_definition(BATCH_DEFINITION)
    except KeyError:
        return asset.add_batch_definition(
            name=BATCH_DEFINITION,
            partitioner=PartitionerMultiColumnValue(column_names=["tenant_id", "batch_id"]),
            # GX only pre-validates date partitioners; a column-value one needs no sample row.
            validate_partitioner=False,
        )


def _suite(context: Any, suite_name: str, items: list[Any]) -> Any:
    """The saved suite, rewritten only when the expectations (e.g. thresholds) changed."""
    import great_expectations as gx

    wanted = [_comparable(item) for item in items]
    try:
        suite = context.suites.get(suite_name)
    except Exception:  # not saved yet
        return context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=items))
    if [_comparable(e) for e in suite.expectations] == wanted:
        return suite
    for expectation in list(suite.expectations):
        suite.delete_expectation(expectation)
    for item in items:
        suite.add_expectation(item)
    suite.save()
    return suite


def _comparable(expectation: Any) -> str:
    config = expectation.configuration.to_json_dict()
    config.pop("id", None)
    return json.dumps(config, sort_keys=True, default=str)


def _file_context(project_dir: Path) -> Any:
    """The GX 1.x file context rooted at ``project_dir`` (created on first use)."""
    import great_expectations as gx

    # GX appends "gx" to project_root_dir; context_root_dir points at the folder itself.
    project_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", context_root_dir=str(project_dir))
    if context.variables.progress_bars is None:
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # Progress bars would flood the Airflow task log with carriage-return noise.
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    return context


def _batch_key(batch_id: str) -> Any:
    """GX matches partition values by Python equality; staging batch_id columns are uuid."""
    import uuid

    try:
        return uuid.UUID(str(batch_id))
    except ValueError:
        return batch_id


def _run_id(suite_name: str, tenant_id: str, batch_id: str) -> Any:
    from great_expectations.core.run_identifier import RunIdentifier

    return RunIdentifier(run_name=f"{suite_name}:{tenant_id}:{batch_id}")


def _docs_url(context: Any, identifier: Any) -> str | None:
    try:
        sites = context.get_docs_sites_urls(resource_identifier=identifier)
    except Exception:  # Data Docs are a convenience; a broken site must not hide the verdict.
        log.warning("could not resolve the Data Docs page", exc_info=True)
        return None
    return next((site.get("site_url") for site in sites if site.get("site_url")), None)


@contextlib.contextmanager
def _project_lock(project_dir: Path) -> Iterator[None]:
    """Serialise gate runs that share one GX project: GX rewrites its YAML on add_or_update."""
    lock_dir = project_dir / "uncommitted"
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / ".gate.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _summarise(label: str, result: dict[str, Any], docs_url: str | None, keys: Sequence[str] = ()) -> GateResult:
    failed = [_describe(item, keys) for item in result.get("results", []) if not item.get("success")]
    statistics = dict(result.get("statistics") or {})
    success = bool(result.get("success"))
    verdict = "passed" if success else "BLOCKED"
    summary = (
        f"{label}: {verdict} "
        f"({statistics.get('successful_expectations', 0)}/{statistics.get('evaluated_expectations', 0)} "
        "expectations met)"
    )
    if failed:
        summary += "; failed: " + "; ".join(failed)
    if docs_url:
        summary += f"; Data Docs: {docs_url}"
    # Round-trip through JSON so the stored validation is plain JSON (no Decimal/datetime objects).
    validation = json.loads(json.dumps(result, default=str))
    return GateResult(success, summary, failed, statistics, docs_url, validation, label)


def _describe(item: dict[str, Any], keys: Sequence[str] = ()) -> str:
    """``rule(column) [description]: N offending records, e.g. KEY (what is wrong), …``."""
    config = item.get("expectation_config") or {}
    kwargs = {k: v for k, v in (config.get("kwargs") or {}).items() if k not in ("batch_id",)}
    name = config.get("meta", {}).get("rule") or config.get("type", "expectation")
    description = config.get("description")
    res = item.get("result") or {}
    column = kwargs.get("column")
    detail = []
    offenders = _offenders(res, keys, column)
    if offenders is not None:
        count = res.get("unexpected_count", res.get("observed_value"))
        text = f"{count} offending record{'' if count == 1 else 's'}"
        if offenders:
            text += ", e.g. " + ", ".join(offenders)
        detail.append(text)
    else:
        if "unexpected_count" in res:
            detail.append(f"{res['unexpected_count']} unexpected")
        if res.get("partial_unexpected_list"):
            detail.append(f"e.g. {res['partial_unexpected_list'][:3]}")
        if "observed_value" in res and res["observed_value"] is not None:
            detail.append(f"observed {res['observed_value']}")
    head = f"{name}({column})" if column else name
    if description:
        head += f" [{description}]"
    detail.extend(f"error: {message[:300]}" for message in _exception_messages(item.get("exception_info")))
    return head + (": " + ", ".join(detail) if detail else "")


def _offenders(res: dict[str, Any], keys: Sequence[str], column: str | None) -> list[str] | None:
    """Up to :data:`EXAMPLES` offending records as ``KEY (column value)``; None when GX named no rows.

    Column expectations give ``unexpected_index_list`` (key columns + the value); row queries
    give ``details.unexpected_rows`` (whatever they select, ideally keys and ``problem``).
    """
    if not keys:
        return None
    rows = res.get("unexpected_index_list")
    if rows is None:
        rows = (res.get("details") or {}).get("unexpected_rows")
    if rows is None:
        return None
    seen: dict[str, list[str]] = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        key = _row_key(row, keys)
        problem = row.get("problem")
        if problem is None:
            shown = [(k, v) for k, v in row.items() if k not in keys]
            problem = ", ".join(f"{k} {_show(v)}" for k, v in shown) if shown else None
        seen.setdefault(key, [])
        if problem and problem not in seen[key]:
            seen[key].append(problem)
        if len(seen) > EXAMPLES:
            break
    examples = []
    for key, problems in list(seen.items())[:EXAMPLES]:
        copies = sum(1 for row in rows if isinstance(row, dict) and _row_key(row, keys) == key)
        note = "; ".join([*problems[:2], *([f"{copies} rows"] if copies > 1 else [])])
        examples.append(f"{key} ({note})" if note else key)
    return examples


def _row_key(row: dict[str, Any], keys: Sequence[str]) -> str:
    for key in keys:
        value = row.get(key)
        if value is not None and value != "":
            if key == keys[0]:
                return str(value)
            return f"row {value}" if key == "row_number" else f"{key} {value}"
    return "(no key)"


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) or value is None else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _exception_messages(info: Any) -> list[str]:
    """GX nests exception info per metric; a gate that errored must say so, not just 'failed'."""
    if not isinstance(info, dict):
        return []
    if "exception_message" in info:
        return [str(info["exception_message"])] if info.get("raised_exception", True) else []
    return [m for value in info.values() for m in _exception_messages(value)]
