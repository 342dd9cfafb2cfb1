"""The Great Expectations gate: validate one staged batch in Postgres before it may touch ``core``.

Generic over staging tables: any table with ``tenant_id`` and ``batch_id``
columns can be gated. Every run builds its own in-memory (ephemeral) GX 1.x
context: one Postgres datasource (``credsync_warehouse``), one table asset
with a batch definition partitioned on ``(tenant_id, batch_id)``, the suite,
a validation definition and a checkpoint. Nothing is written under
``great_expectations/`` and nothing is shared between runs, so gates of any
number of tenants and tables run side by side on any worker without a lock.

The suite: ``great_expectations/expectations/<suite>.json`` is the reviewed,
committed suite (read, never written). Callers pass the expectations their
thresholds produce (``include/quality/*.yaml``, ``include/recon.yaml``, DAG
params); when they match the committed suite the run uses it as committed,
otherwise (a run-specific threshold) the run validates with the caller's and
logs that it did. ``tests/unit/test_committed_suites.py`` keeps the
committed suites equal to what the shipped thresholds produce.

The warehouse connection string reaches the datasource as the config variable
``${credsync_warehouse_url}``, resolved from the context's own in-memory runtime
environment (never ``os.environ`` or a file). The datasource's config holds only
the template, so the password is in no config, validation result, Data Docs
page or log line; and GX does not re-validate the URL, which keeps libpq forms
without a host part (Unix sockets: ``postgresql://u@/db?host=/run/pg``) working.

Validation runs as SQL in Postgres (SQLAlchemy execution engine), never by
loading the batch into pandas. Data Docs are built for the validation in a
temporary folder and published to the object store
(:mod:`credsync.quality.data_docs`); ``GateResult.data_docs_url`` links the page.

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
import json
import logging
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from credsync.paths import GX_DIR

log = logging.getLogger(__name__)

DATASOURCE_NAME = "credsync_warehouse"
#: The config variable the datasource's connection string names (lowercase: not an environment variable).
URL_VARIABLE = "credsync_warehouse_url"
BATCH_DEFINITION = "tenant_batch"
#: The committed suites, one ``<suite name>.json`` each (GX 1.x suite JSON).
SUITES_DIR = GX_DIR / "expectations"
DATA_DOCS_SITE = "credsync"
ExpectationsArg = Sequence[Any] | Callable[[], Sequence[Any]]
#: How each gated table names a record: the business key first, the staged row as fallback.
KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "staging.hris_workers": ("employee_id", "row_number"),
    "staging.completions": ("source_id", "row_number"),
}
#: Offending records named per failed expectation in the log line.
EXAMPLES = 5
#: Where on-call reads what to do about a blocked batch, per suite (docs/runbook.md anchors).
RUNBOOK = {
    "hris_workers": "docs/runbook.md#a-rejected-hris-batch-hris_delta_export-task-gate",
    "lms_completions": "docs/runbook.md#quarantined-learning-records-lms_completion_pull",
    "recon_run": "docs/runbook.md#reconciliation-reconciliation-dag",
}
RUNBOOK_DEFAULT = "docs/runbook.md#gx-data-docs-every-gate"
#: The logger tree kept at WARNING while a gate runs: GX logs hundreds of INFO lines per run, which
#: buried the verdict in the task log (262 lines, 238 of them GX's).
QUIET_LOGGER = "great_expectations"


@dataclass(frozen=True)
class GateResult:
    """What a gate decided about one batch.

    ``summary`` is the verdict for the task log, verdict first (:func:`verdict`): one line
    saying passed or BLOCKED with tenant, batch and the failed rules, then one line per failed
    rule in words with counts, limits and example records, what to do next and the Data Docs
    link; ``failed`` one line per failed expectation; ``validation`` the full GX result JSON
    (stored on ``audit.batches.validation``, with the verdict under ``credsync_verdict``);
    ``data_docs_url`` the validation's Data Docs page in the object store (None when no store
    is configured).
    """

    success: bool
    summary: str
    failed: list[str]
    statistics: dict[str, Any]
    data_docs_url: str | None
    validation: dict[str, Any] = field(default_factory=dict, repr=False)
    label: str = ""
    suite_name: str = ""
    tenant_id: str = ""


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
    summary = verdict(result.label, success=False, failed=failed, statistics=stats, batch_checks=len(failures),
                      data_docs_url=result.data_docs_url, suite_name=result.suite_name, tenant_id=result.tenant_id)
    validation["credsync_verdict"] = summary
    return GateResult(False, summary, failed, stats, result.data_docs_url, validation, result.label,
                      result.suite_name, result.tenant_id)


def run_gate(
    warehouse_url: str,
    *,
    suite_name: str,
    table: str,
    batch_id: str,
    tenant_id: str,
    expectations: ExpectationsArg | None = None,
    suites_dir: Path = SUITES_DIR,
    key_columns: Sequence[str] | None = None,
    data_docs_store: str | None = None,
) -> GateResult:
    """Validate the rows of ``table`` with ``(tenant_id, batch_id)`` against ``expectations``.

    ``table`` is ``schema.table``; ``expectations`` is a list of GX 1.x
    expectation objects, or a zero-argument callable returning one (so
    callers can build them lazily from their thresholds config); None means
    the committed suite ``suites_dir/<suite_name>.json`` as it is.
    ``key_columns`` name a record in failure messages (default: :data:`KEY_COLUMNS`).
    ``data_docs_store`` is the Data Docs store URL (default: the environment's,
    see :mod:`credsync.quality.data_docs`; no store, no Data Docs).
    """
    with quiet_gx():
        return _run_gate(warehouse_url, suite_name=suite_name, table=table, batch_id=batch_id, tenant_id=tenant_id,
                         expectations=expectations, suites_dir=suites_dir, key_columns=key_columns,
                         data_docs_store=data_docs_store)


def _run_gate(warehouse_url: str, *, suite_name: str, table: str, batch_id: str, tenant_id: str,
              expectations: ExpectationsArg | None, suites_dir: Path, key_columns: Sequence[str] | None,
              data_docs_store: str | None) -> GateResult:
    from credsync.quality import data_docs

    schema, _, table_name = table.partition(".")
    if not table_name:
        raise ValueError(f"table must be schema-qualified (schema.table), got {table!r}")
    items = None if expectations is None else list(expectations() if callable(expectations) else expectations)
    if items is not None and not items:
        raise ValueError(f"gate {suite_name!r}: no expectations given")

    keys = tuple(KEY_COLUMNS.get(table, ()) if key_columns is None else key_columns)
    label = f"GX gate {suite_name} on {table} tenant={tenant_id} batch={batch_id}"
    if _staged_rows(warehouse_url, table, tenant_id, batch_id) == 0:
        # GX finds no batch to validate in zero rows: nothing here to fail. Callers judge an
        # empty batch on their own counts (e.g. every record quarantined), see with_batch_checks.
        return GateResult(success=True, summary=f"{label}: staged batch is empty; no expectation to evaluate",
                          failed=[], statistics={}, data_docs_url=None, label=label, suite_name=suite_name,
                          tenant_id=tenant_id)
    store = data_docs_store or data_docs.store_url_from_env()
    if not store:
        log.warning("%s: no Data Docs (%s / %s unset); the verdict is in the log and audit.batches.validation",
                    label, data_docs.STORE_ENV, "CREDSYNC_OBJECT_STORE")
    with tempfile.TemporaryDirectory(prefix="credsync-gx-docs-") as site:
        site_dir = Path(site)
        context = _ephemeral_context(site_dir if store else None, warehouse_url)
        suite = context.suites.add(_suite(suite_name, items, suites_dir, label))
        result, identifier = _validate(context, schema, table_name, suite,
                                       tenant_id=tenant_id, batch_id=batch_id, keys=keys, with_docs=bool(store))
        docs_url = _publish_docs(context, identifier, site_dir, store, tenant_id) if store else None
    return _summarise(label, result.to_json_dict(), docs_url, keys, suite_name=suite_name, tenant_id=tenant_id)


@contextlib.contextmanager
def quiet_gx() -> Iterator[None]:
    """GX's loggers at WARNING (and its Python warnings off) for the duration; levels restored after.

    GX logs some 200 INFO lines on import alone (``_docs_decorators``), so this wraps the import too.
    """
    names = {QUIET_LOGGER, *(n for n in logging.root.manager.loggerDict if n.startswith(QUIET_LOGGER + "."))}
    loggers = [logging.getLogger(name) for name in sorted(names)]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module="great_expectations")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _ephemeral_context(site_dir: Path | None, warehouse_url: str) -> Any:
    """An in-memory GX context; its one Data Docs site (if any) is the temporary ``site_dir``.

    ``warehouse_url`` lives in the context's runtime environment only (:data:`URL_VARIABLE`).
    """
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    import great_expectations as gx
    from credsync.warehouse import sqlalchemy_url

    sites = {} if site_dir is None else {DATA_DOCS_SITE: {
        "class_name": "SiteBuilder",
        "show_how_to_buttons": False,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(site_dir)},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }}
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        data_docs_sites=sites,
        # A worker does not phone home, and progress bars would flood the task log with carriage returns.
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(mode="ephemeral", project_config=config,
                          runtime_environment={URL_VARIABLE: sqlalchemy_url(warehouse_url)})


def _validate(context: Any, schema: str, table_name: str, suite: Any, *, tenant_id: str, batch_id: str,
              keys: Sequence[str], with_docs: bool) -> tuple[Any, Any]:
    """Run the checkpoint on the ``(tenant_id, batch_id)`` batch; (validation result, its identifier)."""
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.partitioners import PartitionerMultiColumnValue

    import great_expectations as gx

    datasource = context.data_sources.add_postgres(name=DATASOURCE_NAME,
                                                   connection_string="${" + URL_VARIABLE + "}")
    asset = datasource.add_table_asset(name=f"{schema}.{table_name}", table_name=table_name, schema_name=schema)
    batch_definition = asset.add_batch_definition(
        name=BATCH_DEFINITION,
        partitioner=PartitionerMultiColumnValue(column_names=["tenant_id", "batch_id"]),
        # GX only pre-validates date partitioners; a column-value one needs no sample row.
        validate_partitioner=False,
    )
    name = f"{suite.name}__{schema}.{table_name}"
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch_definition, suite=suite))
    actions = [UpdateDataDocsAction(name="update_data_docs", site_names=[DATA_DOCS_SITE])] if with_docs else []
    checkpoint = context.checkpoints.add(gx.Checkpoint(
        name=name, validation_definitions=[validation], actions=actions, result_format=_result_format(keys)))
    run = checkpoint.run(
        batch_parameters={"tenant_id": tenant_id, "batch_id": _batch_key(batch_id)},
        run_id=_run_id(suite.name, tenant_id, batch_id),
    )
    identifier, result = next(iter(run.run_results.items()))
    return result, identifier


def _result_format(keys: Sequence[str]) -> dict[str, Any]:
    """COMPLETE with index columns when the table has a record key (so failures name records)."""
    if not keys:
        return {"result_format": "SUMMARY", "partial_unexpected_count": 5}
    return {"result_format": "COMPLETE", "unexpected_index_column_names": list(keys),
            "partial_unexpected_count": 20, "return_unexpected_index_query": False}


def _staged_rows(warehouse_url: str, table: str, tenant_id: str, batch_id: str) -> int:
    from psycopg import sql

    from credsync.warehouse import connect

    schema, _, name = table.partition(".")
    query = sql.SQL("SELECT count(*) FROM {} WHERE tenant_id = %s AND batch_id = %s").format(
        sql.Identifier(schema, name))
    with connect(warehouse_url) as conn:
        return conn.execute(query, (tenant_id, str(batch_id))).fetchone()[0]


def committed_suite(suite_name: str, suites_dir: Path = SUITES_DIR) -> Any | None:
    """The committed suite ``suites_dir/<suite_name>.json`` (read only), or None if there is none."""
    import great_expectations as gx

    path = suites_dir / f"{suite_name}.json"
    if not path.is_file():
        return None
    return gx.ExpectationSuite(**json.loads(path.read_text(encoding="utf-8")))


def _suite(suite_name: str, items: list[Any] | None, suites_dir: Path, label: str) -> Any:
    """The suite this run validates with: the committed one unless the caller's expectations differ."""
    import great_expectations as gx

    committed = committed_suite(suite_name, suites_dir)
    if items is None:
        if committed is None:
            raise ValueError(f"gate {suite_name!r}: no expectations given and no committed suite "
                             f"{suites_dir / (suite_name + '.json')}")
        return committed
    if committed is not None and same_expectations(committed.expectations, items):
        return committed
    log.info("%s: this run's thresholds differ from the committed suite %s.json; validating with this run's "
             "expectations", label, suite_name)
    return gx.ExpectationSuite(name=suite_name, expectations=items)


def same_expectations(left: Sequence[Any], right: Sequence[Any]) -> bool:
    """Whether two lists of expectations check the same things (ids aside)."""
    return [_comparable(e) for e in left] == [_comparable(e) for e in right]


def _comparable(expectation: Any) -> str:
    config = expectation.configuration.to_json_dict()
    config.pop("id", None)
    return json.dumps(config, sort_keys=True, default=str)


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


def _publish_docs(context: Any, identifier: Any, site_dir: Path, store: str, tenant_id: str) -> str | None:
    """Copy the validation's Data Docs to the store; the page's URL there (None if that failed)."""
    from urllib.parse import unquote, urlparse

    from credsync.quality.data_docs import publish_site

    try:
        sites = context.get_docs_sites_urls(resource_identifier=identifier, site_names=[DATA_DOCS_SITE])
        local = next((site["site_url"] for site in sites if site.get("site_url")), None)
        if local is None:
            log.warning("GX built no Data Docs page for %s", identifier)
            return None
        page = Path(unquote(urlparse(local).path))
        return publish_site(site_dir, page, store, tenant_id)
    except Exception:  # Data Docs are a convenience; a store outage must not hide the verdict.
        log.warning("could not publish the Data Docs page to %s", store, exc_info=True)
        return None


def _summarise(label: str, result: dict[str, Any], docs_url: str | None, keys: Sequence[str] = (), *,
               suite_name: str = "", tenant_id: str = "") -> GateResult:
    failed = [_describe(item, keys) for item in result.get("results", []) if not item.get("success")]
    statistics = dict(result.get("statistics") or {})
    success = bool(result.get("success"))
    summary = verdict(label, success=success, failed=failed, statistics=statistics, data_docs_url=docs_url,
                      suite_name=suite_name, tenant_id=tenant_id)
    # Round-trip through JSON so the stored validation is plain JSON (no Decimal/datetime objects).
    validation = json.loads(json.dumps(result, default=str))
    validation["credsync_verdict"] = summary
    return GateResult(success, summary, failed, statistics, docs_url, validation, label, suite_name, tenant_id)


def verdict(label: str, *, success: bool, failed: Sequence[str], statistics: dict[str, Any],
            data_docs_url: str | None, suite_name: str = "", tenant_id: str = "", batch_checks: int = 0) -> str:
    """The gate's verdict for a person, verdict first.

    Line 1: ``<label>: BLOCKED — N of M checks failed: rule, rule`` (or ``passed (M expectations met)``);
    then one ``- <rule>: <what, in words, with counts and example records>`` line per failure, the
    runbook step and ``Data Docs: <link>`` (an HTTP link where one is configured, see
    :func:`credsync.quality.data_docs.page_link`).
    """
    from credsync.quality.data_docs import page_link

    met = statistics.get("successful_expectations", 0)
    evaluated = statistics.get("evaluated_expectations", 0)
    link = page_link(data_docs_url, tenant_id) if data_docs_url else None
    if success and not failed:
        return f"{label}: passed ({met}/{evaluated} expectations met)" + (f"; Data Docs: {link}" if link else "")
    checks = evaluated + batch_checks
    rules = ", ".join(_rule_name(line) for line in failed)
    lines = [f"{label}: BLOCKED, {len(failed)} of {checks} checks failed: {rules}. Nothing reached core."]
    lines += [f"- {line}" for line in failed]
    lines.append(f"What to do: {RUNBOOK.get(suite_name, RUNBOOK_DEFAULT)} (fix the source and rerun the load, "
                 "or park the named records).")
    if link:
        lines.append(f"Data Docs: {link}")
    return "\n".join(lines)


def _rule_name(line: str) -> str:
    head = line.split(":", 1)[0]
    return head.split(" [", 1)[0]


def _describe(item: dict[str, Any], keys: Sequence[str] = ()) -> str:
    """``rule(column) [description]: N offending records, e.g. KEY (what is wrong), …``."""
    config = item.get("expectation_config") or {}
    kwargs = {k: v for k, v in (config.get("kwargs") or {}).items() if k not in ("batch_id",)}
    name = config.get("meta", {}).get("rule") or config.get("type", "expectation")
    description = config.get("description")
    res = item.get("result") or {}
    column = kwargs.get("column")
    detail = []
    shared = _shared_problem(res, keys)
    offenders = _offenders(res, keys, column, skip_problem=shared is not None)
    if offenders is not None:
        count = res.get("unexpected_count", res.get("observed_value"))
        text = f"{count} offending record{'' if count == 1 else 's'}"
        if offenders:
            text += ", e.g. " + ", ".join(offenders)
        detail.append(f"{shared}; {text}" if shared else text)
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


def _shared_problem(res: dict[str, Any], keys: Sequence[str]) -> str | None:
    """The ``problem`` every unexpected row gives, when they all give the same one (a batch-level rule,
    e.g. ``80 of 277 current workers (28.9%) would be terminated, limit 20%``): said once, not per record."""
    rows = (res.get("details") or {}).get("unexpected_rows") if keys else None
    if not rows or len(rows) < 2:
        return None
    problems = {row.get("problem") for row in rows if isinstance(row, dict)}
    return next(iter(problems)) if len(problems) == 1 and None not in problems else None


def _offenders(res: dict[str, Any], keys: Sequence[str], column: str | None, *,
               skip_problem: bool = False) -> list[str] | None:
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
        problem = None if skip_problem else row.get("problem")
        if problem is None and not skip_problem:
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
