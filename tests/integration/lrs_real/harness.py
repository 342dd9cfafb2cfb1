"""One statement history, fed to any LRS (real Ralph, the sandbox, the sandbox with Ralph's quirks),
and the pipeline run against it exactly as the DAG's tasks run it (flow functions + hooks from
``AIRFLOW_CONN_<ID>`` connections)."""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

TENANT = "acme"
VERBS = "http://adlnet.gov/expapi/verbs/"
COURSE = "https://lms.acme.example/courses/"
VERSION = {"X-Experience-API-Version": "1.0.3"}
#: Set to 1 to run the pull as it was before issue 13, to see these tests fail the way the
#: product did: the hook's own watermark (newest stored, trusting since-on-stored and
#: Consistent-Through), no overlap, no skipping of already-quarantined statements, share
#: thresholds on every batch size, voids not reaching the LMS REST copy.
LEGACY_ENV = "CREDSYNC_LRS_LEGACY_PULL"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def account(employee_id: str) -> dict[str, Any]:
    return {"objectType": "Agent", "account": {"homePage": "https://lms.acme.example", "name": employee_id}}


def statement(verb: str, course: str, employee_id: str, timestamp: datetime | str, *, scaled: float | None = 0.9,
              registration: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()), "actor": account(employee_id), "verb": {"id": VERBS + verb},
        "object": {"objectType": "Activity", "id": COURSE + course},
        "timestamp": timestamp if isinstance(timestamp, str) else iso(timestamp),
    }
    if scaled is not None:
        body["result"] = {"score": {"scaled": scaled}, "success": verb != "failed", "completion": True}
    if registration:
        body["context"] = {"registration": registration}
    body.update(extra)
    return body


def void(target: dict[str, Any], timestamp: datetime) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "actor": {"objectType": "Agent", "mbox": "mailto:lms-admin@acme.example"},
            "verb": {"id": VERBS + "voided"}, "object": {"objectType": "StatementRef", "id": target["id"]},
            "timestamp": iso(timestamp)}


@dataclass
class Lrs:
    """Where statements go in and how the pipeline's Connection reaches them."""

    name: str
    base_url: str  # the xAPI endpoint, e.g. http://127.0.0.1:PORT/xAPI/
    auth: tuple[str, str]
    admin_url: str | None = None  # sandbox only: plants records its validating API would refuse
    reset_hook: Any = None

    def post(self, statements: list[dict[str, Any]], *, raw: bool = False) -> None:
        """Store ``statements`` in one write (as an LMS would); ``raw`` through the sandbox's admin
        route (records the sandbox's validation refuses but Ralph stores, e.g. a NUL)."""
        if raw and self.admin_url:
            requests.post(f"{self.admin_url}/admin/{TENANT}/statements", json=statements,
                          timeout=30).raise_for_status()
            return
        answer = requests.post(self.base_url + "statements", json=statements, auth=self.auth, headers=VERSION,
                               timeout=30)
        assert answer.status_code in (200, 204), f"{self.name}: {answer.status_code} {answer.text[:300]}"

    def connection(self) -> dict[str, Any]:
        return {"conn_type": "http", "host": self.base_url, "login": self.auth[0], "password": self.auth[1],
                "extra": json.dumps({"page_size": 3})}

    def reset(self) -> None:
        self.reset_hook()


@dataclass
class Pipeline:
    """lms_completion_pull's three tasks for one tenant, as the DAG runs them."""

    warehouse_url: str
    lrs_conn_id: str
    lms_conn_id: str
    runs: list[dict[str, Any]] = field(default_factory=list)

    def run(self, *, reconcile: bool = False, full: bool = False, lookback_hours: float | None = None,
            max_share: float = 0.05, min_batch_size: int = 20, replay_quarantined: bool = False) -> dict[str, Any]:
        from credsync.hooks.lms import LmsHook
        from credsync.hooks.lrs import LrsHook
        from credsync.learning import flow
        from credsync.learning.lrs_sync import LrsSyncPolicy, open_statement_sync

        lrs = LrsHook(self.lrs_conn_id, TENANT)
        statements = open_statement_sync(
            self.warehouse_url, tenant_id=TENANT, open_pull=lrs.pull_statements,
            policy=LrsSyncPolicy.from_settings(lrs.extras, {"lookback_hours": lookback_hours}),
            reconcile=reconcile, replay_quarantined=replay_quarantined, lrs_name=f"LRS {self.lrs_conn_id!r}")
        legacy = bool(os.environ.get(LEGACY_ENV))
        if legacy:  # the pull as it was before issue 13 (see LEGACY_ENV)
            statements, min_batch_size = lrs.pull_statements, 0
        staged = flow.extract_and_stage(self.warehouse_url, tenant_id=TENANT, open_statements=statements,
                                        open_completions=LmsHook(self.lms_conn_id, TENANT).export_completions,
                                        full=full)
        validated = flow.gate(self.warehouse_url, staged, max_quarantine_share=max_share,
                              min_batch_size=min_batch_size)
        with _without_rest_twin_voids() if legacy else contextlib.nullcontext():
            merged = flow.merge(self.warehouse_url, validated)
        self.runs.append(merged)
        return merged


@contextlib.contextmanager
def _without_rest_twin_voids() -> Iterator[None]:
    from credsync.learning import merge
    from credsync.paths import sql_text

    def old_sql(name: str) -> str:
        return "SELECT 1 WHERE false" if name == "learning/void_rest_twins.sql" else sql_text(name)

    merge.sql_text = old_sql
    try:
        yield
    finally:
        merge.sql_text = sql_text


def completions(conn: Any) -> list[tuple[Any, ...]]:
    """core.completions as the comparison sees it (what a credential decision reads)."""
    return conn.execute(
        "SELECT source, source_id, employee_id, course_code, verb, success, score, completed_at, voided, voided_by"
        " FROM core.completions ORDER BY source, source_id").fetchall()


def add_worker(conn: Any, employee_id: str) -> None:
    conn.execute(
        "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name, work_email,"
        " email_normalized, employment_status, employment_type, source_updated_at, mapping_version, last_batch_id)"
        " VALUES (%s, %s, 'hris_main', 'T', 'W', %s, lower(%s), 'active', 'employee', now(), 'v1', %s)",
        (TENANT, employee_id, f"{employee_id.lower()}@acme.example", f"{employee_id}@acme.example",
         str(uuid.uuid4())),
    )


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
