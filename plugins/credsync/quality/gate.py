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


def run_gate(
    warehouse_url: str,
    *,
    suite_name: str,
    table: str,
    batch_id: str,
    tenant_id: str,
    expectations: ExpectationsArg,
    project_dir: Path = GX_DIR,
) -> GateResult:
    """Validate the rows of ``table`` with ``(tenant_id, batch_id)`` against ``expectations``.

    ``table`` is ``schema.table``; ``expectations`` is a list of GX 1.x
    expectation objects, or a zero-argument callable returning one (so
    callers can build them lazily from their thresholds config).
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

    if _staged_rows(warehouse_url, table, tenant_id, batch_id) == 0:
        # GX finds no batch to validate in zero rows; an empty batch passes trivially.
        return GateResult(success=True, summary=f"{suite_name}: {table} batch {batch_id} of {tenant_id} "
                          "is empty; nothing to validate", failed=[], statistics={}, data_docs_url=None)
    os.environ[URL_VARIABLE] = sqlalchemy_url(warehouse_url)
    with _project_lock(project_dir):
        context = _file_context(project_dir)
        batch_definition = _batch_definition(context, schema, table_name)
        suite = _suite(context, suite_name, items)
        name = f"{suite_name}__{table}"
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
                    result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
                )
            )
        run = checkpoint.run(
            batch_parameters={"tenant_id": tenant_id, "batch_id": _batch_key(batch_id)},
            run_id=_run_id(suite_name, tenant_id, batch_id),
        )
        identifier, result = next(iter(run.run_results.items()))
        docs_url = _docs_url(context, identifier)
    return _summarise(suite_name, table, tenant_id, batch_id, result.to_json_dict(), docs_url)


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


def _summarise(
    suite_name: str, table: str, tenant_id: str, batch_id: str, result: dict[str, Any], docs_url: str | None
) -> GateResult:
    failed = [_describe(item) for item in result.get("results", []) if not item.get("success")]
    statistics = dict(result.get("statistics") or {})
    success = bool(result.get("success"))
    verdict = "passed" if success else "BLOCKED"
    summary = (
        f"GX gate {suite_name} on {table} tenant={tenant_id} batch={batch_id}: {verdict} "
        f"({statistics.get('successful_expectations', 0)}/{statistics.get('evaluated_expectations', 0)} "
        "expectations met)"
    )
    if failed:
        summary += "; failed: " + "; ".join(failed)
    if docs_url:
        summary += f"; Data Docs: {docs_url}"
    # Round-trip through JSON so the stored validation is plain JSON (no Decimal/datetime objects).
    validation = json.loads(json.dumps(result, default=str))
    return GateResult(success, summary, failed, statistics, docs_url, validation)


def _describe(item: dict[str, Any]) -> str:
    config = item.get("expectation_config") or {}
    kwargs = {k: v for k, v in (config.get("kwargs") or {}).items() if k not in ("batch_id",)}
    name = config.get("meta", {}).get("rule") or config.get("type", "expectation")
    description = config.get("description")
    res = item.get("result") or {}
    detail = []
    if "unexpected_count" in res:
        detail.append(f"{res['unexpected_count']} unexpected")
    if res.get("partial_unexpected_list"):
        detail.append(f"e.g. {res['partial_unexpected_list'][:3]}")
    if "observed_value" in res and res["observed_value"] is not None:
        detail.append(f"observed {res['observed_value']}")
    column = kwargs.get("column")
    head = f"{name}({column})" if column else name
    if description:
        head += f" [{description}]"
    detail.extend(f"error: {message[:300]}" for message in _exception_messages(item.get("exception_info")))
    return head + (": " + ", ".join(detail) if detail else "")


def _exception_messages(info: Any) -> list[str]:
    """GX nests exception info per metric; a gate that errored must say so, not just 'failed'."""
    if not isinstance(info, dict):
        return []
    if "exception_message" in info:
        return [str(info["exception_message"])] if info.get("raised_exception", True) else []
    return [m for value in info.values() for m in _exception_messages(value)]
