"""The grid label of a tenant task in every state: the template, a scheduler policy, a retry fix.

Airflow renders ``map_index_template`` in the task runner (``task_runner._prepare``, then again after
the task body), so an instance that never runs — ``upstream_failed`` after its tenant's extract
failed, ``scheduled`` or ``queued`` still, ``skipped`` — would show only its map index. When the
scheduler expands a task whose template is :data:`TENANT_MAP_INDEX`
(``TaskMap.expand_mapped_task`` calls ``task_instance_mutation_hook`` for every instance it creates),
this hook labels the instance with the tenant id at its index of the list the task maps over: the XCom
of the task that ``tenant_id`` is expanded from (the mapped task's own ``expand`` or its mapped task
group's). The runner later renders the same id from the task's arguments, so the label never changes.

A retried instance: Airflow 3.3's task runner reports a try that will be retried with a ``RetryTask``
built without the label it rendered (``task_runner._finalize_task_failure``), and the execution API
stores that explicit null over it, so an ``up_for_retry`` instance would lose its label until the next
try renders it again. The runner's own messages are the only way to the row (the execution API's
token is scoped to the instance, which gets a new id as the retry is recorded, and no policy runs on
that transition), so :func:`keep_label_on_retry` puts the rendered label on the ``RetryTask``;
``credsync.dagkit`` installs it in every task process (and ``@tenant_task`` before its
body). Remove it once Airflow sends the label itself.

What stays unlabelled: a tenant task whose tenant list never existed (the ``tenants`` task or the
schema check before it failed: the scheduler marks the one unexpanded instance, map index -1,
``upstream_failed``, and there is no tenant to name).

Registered as the ``airflow.policy`` entry point of the credsync package (``pip install .``); a
deployment that copies ``plugins/`` instead adds to its ``airflow_local_settings.py``::

    from credsync.tenant_labels import task_instance_mutation_hook  # noqa: F401
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import TYPE_CHECKING, Any

from airflow.policies import hookimpl

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

# The grid label of a tenant's mapped task (``map_index_template``): the tenant id it was mapped with,
# read from the task's own resolved arguments, so the task runner renders it before the task body runs
# and a failure keeps it. ``@tenant_task`` tasks take ``tenant_id`` as a keyword; operators carry it
# as an attribute.
TENANT_MAP_INDEX = "{{ task.op_kwargs['tenant_id'] if task.op_kwargs is defined else task.tenant_id }}"


@hookimpl
def task_instance_mutation_hook(task_instance: Any, dag_run: Any = None) -> None:
    """Label a new mapped instance of a tenant task with its tenant id (no-op for any other task)."""
    try:
        label = tenant_label(task_instance, dag_run)
    except Exception:  # a label is cosmetic: it must never stop the scheduler
        log.warning("no grid label for %s", task_instance, exc_info=True)
        return
    if label:
        task_instance._rendered_map_index = label


def tenant_label(task_instance: Any, dag_run: Any = None) -> str | None:
    """The tenant id of ``task_instance`` (a mapped instance of a tenant task), read with the
    scheduler's own session; None when it is not one or the list is not known."""
    from sqlalchemy.orm import object_session

    task = getattr(task_instance, "task", None)
    if task is None or task_instance.map_index < 0 or getattr(task, "map_index_template", None) != TENANT_MAP_INDEX:
        return None
    source = _tenant_source(task)
    session = object_session(dag_run) if dag_run is not None else object_session(task_instance)
    if source is None or session is None:
        return None
    tenants = source if isinstance(source, list) else _xcom_list(session, task_instance, *source)
    if not isinstance(tenants, list) or task_instance.map_index >= len(tenants):
        return None
    item = tenants[task_instance.map_index]
    if isinstance(item, dict):  # expand_kwargs: one dict of arguments per instance
        item = item.get("tenant_id")
    return None if item is None else str(item)[:250]  # rendered_map_index is a String(250)


def _tenant_source(task: Any) -> tuple[str, str] | list[Any] | None:
    """(task_id, key) of the XCom ``tenant_id`` is expanded from, or the literal list."""
    from airflow.serialization.definitions.mappedoperator import is_mapped

    if is_mapped(task):
        expand_input = task._get_specified_expand_input()
    else:
        group = task.get_closest_mapped_task_group()
        if group is None:
            return None
        expand_input = group._expand_input
    value = getattr(expand_input, "value", None)
    if not isinstance(value, dict):
        # expand_kwargs over one XCom list of argument dicts (each carries its tenant_id)
        operator, key = getattr(value, "operator", None), getattr(value, "key", None)
        return (operator.task_id, key) if operator is not None and key else None
    arg = value.get("tenant_id")
    if isinstance(arg, list):
        return arg
    operator, key = getattr(arg, "operator", None), getattr(arg, "key", None)
    return (operator.task_id, key) if operator is not None and key else None


def _xcom_list(session: Session, task_instance: Any, task_id: str, key: str) -> Any:
    from airflow.models.xcom import XComModel
    from sqlalchemy import select

    row = session.execute(select(XComModel.value).where(
        XComModel.dag_id == task_instance.dag_id, XComModel.run_id == task_instance.run_id,
        XComModel.task_id == task_id, XComModel.key == key, XComModel.map_index == -1,
    )).first()
    return XComModel.deserialize_value(row) if row is not None else None


TASK_RUNNER = "airflow.sdk.execution_time.task_runner"


def keep_label_on_retry() -> None:
    """Make the task runner of this process send the rendered label with ``up_for_retry`` (idempotent).

    Wraps ``_finalize_task_failure``, the one place the runner builds a ``RetryTask``; a failure that
    is final (``TaskState``) already carries the label and is left as it is.
    """
    runner = sys.modules.get(TASK_RUNNER)
    if runner is None:
        return
    original = getattr(runner, "_finalize_task_failure", None)
    if original is None or getattr(original, "keeps_label", False):
        return

    @functools.wraps(original)
    def finalize_task_failure(ti: Any, *args: Any, **kwargs: Any) -> Any:
        msg, state = original(ti, *args, **kwargs)
        label = getattr(ti, "rendered_map_index", None)
        if label and getattr(msg, "type", None) == "RetryTask" and msg.rendered_map_index is None:
            msg = msg.model_copy(update={"rendered_map_index": label})
        return msg, state

    finalize_task_failure.keeps_label = True  # type: ignore[attr-defined]
    runner._finalize_task_failure = finalize_task_failure
