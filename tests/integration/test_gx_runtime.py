"""GX gates at run time: nothing under great_expectations/ is written, nothing is locked, no secret leaks.

The HRIS and LMS gates run through the flow functions the DAG tasks call, against the real Postgres,
with a warehouse URL that carries a password (the machine's Postgres trusts loopback, so any password
connects; the point is where the string travels) and names its host the way a Unix-socket URL does,
in the query (the demo's embedded Postgres). Data Docs go to this test's own object store.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse, urlsplit, urlunsplit

import pytest

# Airflow configures logging when first imported (the Data Docs upload imports it): import it before
# the test starts so that pytest's log capture stays attached.
from airflow.sdk import ObjectStoragePath  # noqa: F401

from credsync.ingest.gate import BatchRejected as CompletionsRejected
from credsync.ingest.gate import BatchRejected as WorkersRejected
from credsync.ingest.gate import gate_batch
from credsync.learning.pull import stage_pull
from credsync.learning.quality import CompletionGateThresholds, completion_gate
from credsync.paths import GX_DIR
from credsync.people import flow
from credsync.quality.gate import URL_VARIABLE
from credsync.warehouse import connect

pytestmark = pytest.mark.slow
TENANT = "acme"
PASSWORD = f"gx-pw-{uuid.uuid4().hex}"
VERBS = "http://adlnet.gov/expapi/verbs/"


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` (dot files included) by relative path, as a SHA-256 of its bytes."""
    return {path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


def socket_style_url(url: str) -> str:
    """``url`` with a password, and host and port as query parameters (``postgresql://u:pw@/db?host=…``)."""
    parts = urlsplit(url)
    if parts.hostname is None:  # already a socket URL (the embedded Postgres): keep its query as it is
        query = parts.query
    else:
        query = f"host={parts.hostname}" + (f"&port={parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}:{PASSWORD}@", query=query))


class Export:
    """An HRIS delta as the hook yields it; ``workers`` are (employee_id, work email)."""

    as_of = "2099-01-01T00:00:00Z"

    def __init__(self, workers: list[tuple[str, str]]) -> None:
        self.workers = workers

    def __iter__(self) -> Iterator[dict]:
        for employee_id, email in self.workers:
            yield {"source_system": "hris_main", "employee_id": employee_id, "name": {"given": "A", "family": "B"},
                   "emails": {"work": email}, "employment": {"status": "active", "type": "employee"},
                   "updated_at": "2025-06-01T00:00:00Z"}


def statement(verb: str, employee_id: str) -> dict:
    return {"id": str(uuid.uuid4()), "verb": {"id": VERBS + verb}, "version": "1.0.3",
            "actor": {"objectType": "Agent", "account": {"homePage": "https://lms.acme.example", "name": employee_id}},
            "object": {"objectType": "Activity", "id": "https://lms.acme.example/courses/CPR-101"},
            "timestamp": "2025-05-01T10:00:00Z", "stored": "2025-05-01T10:00:05Z",
            "result": {"score": {"scaled": 0.9}, "success": True}}


def page(url: str | None, store: Path) -> Path:
    """The local file behind a file:// Data Docs URL, checked to be inside the store."""
    assert url and url.startswith(store.as_uri() + "/"), f"Data Docs URL {url!r} is not in the store {store}"
    path = Path(unquote(urlparse(url).path))
    assert path.is_file(), f"the Data Docs page {path} does not exist"
    return path


def test_gates_touch_no_committed_file_take_no_lock_and_leak_no_secret(fresh_warehouse_url, tmp_path, monkeypatch,
                                                                        caplog, capfd) -> None:
    store = tmp_path / "objects" / "data_docs"
    monkeypatch.setenv("CREDSYNC_DATA_DOCS_STORE", store.as_uri())
    url = socket_style_url(fresh_warehouse_url)
    database = urlsplit(url).path.lstrip("/")
    committed = tree_digest(GX_DIR)
    assert committed, f"no committed GX suites under {GX_DIR}"
    environment = dict(os.environ)
    caplog.set_level(logging.DEBUG)  # every log line of GX and credsync, to look for the secret in

    # HRIS: a clean delta passes, then a delta naming one employee twice is blocked.
    passed = flow.gate(url, flow.extract_and_stage(url, tenant_id=TENANT, open_export=lambda _since: Export(
        [("E1", "e1@acme.example"), ("E2", "e2@acme.example")])))
    page(passed["data_docs_url"], store)
    flow.merge(url, passed)
    with pytest.raises(WorkersRejected) as blocked:
        flow.gate(url, flow.extract_and_stage(url, tenant_id=TENANT, open_export=lambda _since: Export(
            [("E3", "e3@acme.example"), ("E3", "e3b@acme.example")])))
    message = str(blocked.value)
    assert "unique_employee_id(employee_id): 2 offending records, e.g. E3" in message
    rejected = page(message.split("Data Docs: ", 1)[1].split()[0].rstrip(";"), store)
    assert f"/{TENANT}/validations/hris_workers/" in rejected.as_posix()

    # LMS: one bad statement of two blocks at the default 5 %; this run's 60 % lets the same kind pass.
    with connect(url) as conn:
        bad, _ = stage_pull(conn, tenant_id=TENANT,
                            statements=[statement("completed", "E1"), statement("attempted", "E2")])
        with pytest.raises(CompletionsRejected, match=r"(?s)quarantine_share.*\nData Docs: file://"):
            gate_batch(url, completion_gate(CompletionGateThresholds()), tenant_id=TENANT, batch_id=bad.batch_id)
        lenient, _ = stage_pull(conn, tenant_id=TENANT,
                                statements=[statement("completed", "E1"), statement("attempted", "E2")])
        result = gate_batch(url, completion_gate(CompletionGateThresholds(max_quarantine_share=0.6)), tenant_id=TENANT,
                            batch_id=lenient.batch_id)
        assert result.success
        assert lenient.batch_id in page(result.data_docs_url, store).name
        assert "thresholds differ from the committed suite lms_completions.json" in caplog.text
        batches = conn.execute("SELECT source, status, data_docs_url, validation::text FROM audit.batches").fetchall()

    # Every gated batch links an existing page of its own in the store.
    assert sorted((source, status) for source, status, _, _ in batches) == [
        ("hris", "merged"), ("hris", "rejected"), ("lms", "rejected"), ("lms", "validated")]
    for _, _, docs_url, _ in batches:
        page(docs_url, store)

    # The committed project is byte for byte as it was; no lock or results file appeared beside it.
    assert tree_digest(GX_DIR) == committed
    assert not [p for p in GX_DIR.rglob("*") if p.name.endswith(".lock") or p.name == "uncommitted"]

    # The warehouse URL went to the datasource only: not into the environment, results, Data Docs or logs.
    # GX's SQL engine sets SF_PARTNER=great_expectations_oss (a Snowflake attribution tag, no secret).
    added = {key for key in os.environ if key not in environment} - {"PYTEST_CURRENT_TEST", "SF_PARTNER"}
    assert not added, f"the gates set environment variables: {sorted(added)}"
    assert not [key for key, value in os.environ.items() if PASSWORD in value or database in value]
    assert not {"CREDSYNC_GX_WAREHOUSE_URL", URL_VARIABLE} & set(os.environ)
    assert not [source for source, _, _, validation in batches if PASSWORD in validation]
    published = [p for p in store.rglob("*") if p.is_file()]
    assert any(p.suffix == ".html" for p in published)
    assert not [p for p in published if PASSWORD.encode() in p.read_bytes()]
    output = capfd.readouterr()
    assert caplog.records and PASSWORD not in caplog.text
    assert PASSWORD not in output.out and PASSWORD not in output.err
