"""The bad-input corpus (tests/corpus/) through the functions the DAG tasks call, record by record.

HRIS REST export (real HRIS sandbox; shapes its contract refuses added to the real export on its
way in) and CSV file drop → staging → gate → merge, then SCIM provisioning against the real
scim2-server; LRS pull (real LRS sandbox) → staging → gate → merge. Real Postgres throughout.
Each record must end as its ``expect`` says: loaded (with canonical values in core), quarantined
(``audit.quarantine`` row keyed by the record, with the expected rule and a reason naming the
field), dead-lettered (naming both ids), or its batch rejected by the documented rule and then
unblocked by the runbook's path. Counts reconcile, and a final rerun of everything adds nothing.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from credsync.hooks.hris import HrisHook
from credsync.hooks.scim import ScimHook
from credsync.hooks.transport import HTTPBasicAuth, HttpClient
from credsync.ingest.gate import BatchRejected, gate_batch
from credsync.ingest.gate import BatchRejected as CompletionsRejected
from credsync.ingest.watermarks import current_watermark
from credsync.learning.merge import merge_completions
from credsync.learning.pull import LRS_STREAM, stage_pull
from credsync.learning.quality import CompletionGateThresholds, completion_gate
from credsync.paths import PROJECT_ROOT
from credsync.people import flow
from credsync.people.provision import provision_tenant
from credsync.quality.quarantine import storable_text
from credsync.warehouse import connect

pytestmark = pytest.mark.slow

TENANT = "acme"
CORPUS = Path(__file__).resolve().parents[1] / "corpus"
XAPI_HEADERS = {"X-Experience-API-Version": "1.0.3"}
# The crafted records of the HRIS corpus belong to the export window they are added to.
CRAFTED_UPDATED_AT = "2025-01-15T09:00:00Z"
# The documented unblock of a learning batch refused for its quarantine share: one run with a raised
# limit (the DAG param's maximum), so the good records load and the bad ones stay quarantined.
RAISED_SHARE = CompletionGateThresholds(max_quarantine_share=0.5)


# --- the corpus files ---------------------------------------------------------------------------

def load(name: str) -> dict[str, Any]:
    return json.loads((CORPUS / name).read_text(encoding="utf-8"))


def expand(value: Any) -> Any:
    """Generated values: ``{"$repeat": c, "times": n}`` (the 10 MB name) and ``"$NaN"``."""
    if isinstance(value, dict):
        if set(value) == {"$repeat", "times"}:
            return value["$repeat"] * value["times"]
        return {k: expand(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v) for v in value]
    return math.nan if value == "$NaN" else value


def merged(base: Any, patch: Any) -> Any:
    """``patch`` deep-merged over ``base``; ``"$delete"`` removes a key."""
    if not isinstance(base, dict) or not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value == "$delete":
            out.pop(key, None)
        else:
            out[key] = merged(out.get(key), value)
    return out


def hris_record(corpus: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    record = {"employee_id": entry["employee_id"], **merged(corpus["base"], expand(entry.get("patch", {})))}
    if "updated_at" in entry:
        record["updated_at"] = entry["updated_at"]
    return record


# --- the environment ----------------------------------------------------------------------------

@dataclass
class Env:
    warehouse_url: str
    hris_url: str
    scim_url: str
    lrs_url: str
    lrs_auth: tuple[str, str]

    def hris_admin(self, method: str, path: str, **kwargs: Any) -> dict:
        response = requests.request(method, f"{self.hris_url}/admin/tenants/{TENANT}/{path}", timeout=60, **kwargs)
        assert response.status_code == 200, response.text[:500]
        return response.json()

    def rows(self, sql: str, *params: object) -> list[tuple]:
        with connect(self.warehouse_url) as conn:
            return conn.execute(sql, params).fetchall()

    def scalar(self, sql: str, *params: object) -> Any:
        return self.rows(sql, *params)[0][0]


@pytest.fixture
def env(sandboxes, fresh_warehouse_url, monkeypatch) -> Iterator[Env]:
    """An empty HRIS tenant, SCIM and LRS, a fresh warehouse, and the hooks' AIRFLOW_CONN_* env vars."""
    hris_token = json.loads(sandboxes.env["SANDBOX_HRIS_TOKENS"])[TENANT]
    for name, password in (("hris", hris_token), ("scim", sandboxes.env["SANDBOX_SCIM_TOKEN"])):
        port = int(sandboxes.url(name).rsplit(":", 1)[1])
        monkeypatch.setenv(f"AIRFLOW_CONN_{name.upper()}_{TENANT.upper()}", json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", "password": password}))
    for name in ("hris", "scim", "lrs"):
        requests.delete(f"{sandboxes.url(name)}/admin/faults", timeout=10)
    requests.post(f"{sandboxes.url('scim')}/admin/reset", timeout=10).raise_for_status()
    requests.post(f"{sandboxes.url('lrs')}/admin/reset", timeout=10).raise_for_status()
    key, secret = json.loads(sandboxes.env["SANDBOX_LRS_CREDENTIALS"])[TENANT]
    environment = Env(fresh_warehouse_url, sandboxes.url("hris"), sandboxes.url("scim"), sandboxes.url("lrs"),
                      (key, secret))
    environment.hris_admin("POST", "seed", json={"workers": 0, "seed": 1})
    yield environment


# --- the DAG's steps, as its tasks call them ----------------------------------------------------

def hris_run(env: Env, open_export: Callable[[str | None], Any] | None = None) -> dict:
    """hris_delta_export for one tenant: extract_and_stage → gate → merge."""
    open_export = open_export or HrisHook(f"hris_{TENANT}", TENANT).export
    staged = flow.extract_and_stage(env.warehouse_url, tenant_id=TENANT, open_export=open_export)
    return flow.merge(env.warehouse_url, flow.gate(env.warehouse_url, staged))


def corpus_export(windows: dict[str | None, list[dict[str, Any]]]) -> Callable[[str | None], Any]:
    """The real HRIS export, plus the crafted records of the window starting at ``since`` (if any)."""
    hook = HrisHook(f"hris_{TENANT}", TENANT)

    def open_export(since: str | None) -> Any:
        export = hook.export(since)

        class CorpusExport:
            @property
            def as_of(self) -> str | None:
                return export.as_of

            def __iter__(self) -> Iterator[dict[str, Any]]:
                yield from export
                for record in windows.get(since, ()):
                    yield copy.deepcopy(record)

        return CorpusExport()

    return open_export


def provision(env: Env) -> dict:
    with connect(env.warehouse_url) as conn:
        return provision_tenant(conn, ScimHook(f"scim_{TENANT}", TENANT).client(), tenant_id=TENANT).as_dict()


class CorpusPull:
    """The LRS pull (StatementPull, as the hook makes it) plus crafted statements of its window."""

    def __init__(self, env: Env, since: str | None, crafted: dict[str | None, list[Any]]) -> None:
        from credsync.hooks.lrs import StatementPull

        self.pull = StatementPull(HttpClient.for_url(
            f"{env.lrs_url}/{TENANT}/xAPI/", auth=HTTPBasicAuth(*env.lrs_auth)), since=since,
                                  page_size=10)
        self.crafted = crafted.get(since, [])
        self.since = since  # the pull's window (credsync.learning.pull.pull_window), as StatementPull has it

    @property
    def watermark(self) -> str | None:
        return self.pull.watermark

    def __iter__(self) -> Iterator[Any]:
        yield from self.pull
        yield from copy.deepcopy(self.crafted)


def lms_run(env: Env, crafted: dict[str | None, list[Any]] | None = None,
            thresholds: CompletionGateThresholds | None = None) -> tuple[Any, Any]:
    """lms_completion_pull for one tenant: extract_and_stage → gate → merge (LRS stream)."""
    with connect(env.warehouse_url, autocommit=True) as conn:
        statements = CorpusPull(env, current_watermark(conn, TENANT, LRS_STREAM), crafted or {})
        batch, _ = stage_pull(conn, tenant_id=TENANT, statements=statements)
        gate_batch(env.warehouse_url, completion_gate(thresholds or CompletionGateThresholds()), tenant_id=TENANT,
                   batch_id=batch.batch_id)
        result = merge_completions(conn, tenant_id=TENANT, batch_id=batch.batch_id,
                                   watermarks={LRS_STREAM: statements.watermark} if statements.watermark else {})
    return batch, result


def send_statements(env: Env, statements: list[dict[str, Any]]) -> None:
    """Through the xAPI API, as an LMS would (the LRS validates them)."""
    response = requests.post(f"{env.lrs_url}/{TENANT}/xAPI/statements", json=statements, auth=env.lrs_auth,
                             headers=XAPI_HEADERS, timeout=30)
    assert response.status_code == 200, response.text[:500]


# --- what the warehouse holds --------------------------------------------------------------------

def core_fingerprint(env: Env) -> dict[str, str]:
    """A hash of every core table's rows."""
    tables = [t for (t,) in env.rows("SELECT table_name FROM information_schema.tables"
                                     " WHERE table_schema = 'core' AND table_type = 'BASE TABLE' ORDER BY 1")]
    fingerprint = {}
    for table in tables:
        rows = env.rows(f"SELECT t::text FROM core.{table} t ORDER BY 1")
        fingerprint[table] = hashlib.sha256("\n".join(r[0] for r in rows).encode()).hexdigest()
    return fingerprint


def history_counts(env: Env) -> dict[str, Any]:
    return {"quarantine": env.scalar("SELECT count(*) FROM audit.quarantine"),
            "dead_letters": env.rows("SELECT dead_letter_id, attempts, status FROM audit.dead_letters ORDER BY 1")}


def quarantine_of(env: Env, batch_id: str) -> dict[str, list[tuple[str, str, Any]]]:
    found: dict[str, list[tuple[str, str, Any]]] = {}
    for key, rule, reason, parked_at in env.rows(
            "SELECT record_key, rule, reason, parked_at FROM audit.quarantine WHERE batch_id = %s", batch_id):
        found.setdefault(key, []).append((rule, reason, parked_at))
    return found


def assert_quarantined(found: dict[str, list[tuple[str, str, Any]]], key: str, expect: dict[str, Any],
                       case: str) -> None:
    rows = found.get(key)
    assert rows, f"{case}: no audit.quarantine row for record {key!r} (have {sorted(found)[:50]})"
    rules = [rule for rule, _, _ in rows]
    assert expect["rule"] in rules, f"{case}: record {key!r} quarantined as {rules}, expected {expect['rule']}"
    reason = next(reason for rule, reason, _ in rows if rule == expect["rule"])
    assert expect["field"] in reason, f"{case}: reason does not name field {expect['field']!r}: {reason[:300]}"


def assert_reconciled(env: Env, batch_id: str) -> tuple[int, int, int, int]:
    records_in, loaded, quarantined, dead = env.rows(
        "SELECT records_in, records_loaded, records_quarantined, records_dead FROM audit.batches"
        " WHERE batch_id = %s", batch_id)[0]
    assert records_in == loaded + quarantined + dead, (records_in, loaded, quarantined, dead)
    return records_in, loaded, quarantined, dead


def hris_watermark(env: Env) -> str | None:
    rows = env.rows("SELECT watermark FROM audit.sync_state WHERE tenant_id = %s AND source = 'hris'", TENANT)
    return rows[0][0] if rows else None


def park(env: Env, batch_id: str, records: list[str]) -> subprocess.CompletedProcess:
    """The runbook's unblock path, as on-call runs it: ``python -m credsync.people.park …``."""
    command = [sys.executable, "-m", "credsync.people.park", "--url", env.warehouse_url, "--tenant", TENANT,
               "--batch", batch_id, *[arg for key in records for arg in ("--record", key)],
               "--by", "corpus-oncall", "--note", "bad-input corpus: fix at the HRIS"]
    pythonpath = os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=PROJECT_ROOT,
                          env={**os.environ, "PYTHONPATH": pythonpath}, check=False)


# --- the phases -----------------------------------------------------------------------------------

def hris_setup_terminated_worker(env: Env, corpus: dict[str, Any]) -> None:
    """``E000739`` hired, provisioned, terminated and deactivated: the account a case variant must not take."""
    worker = hris_record(corpus, corpus["terminated_worker"])
    env.hris_admin("PUT", f"workers/{worker['employee_id']}", json=worker)
    hris_run(env)
    assert provision(env)["create"] == 1
    env.hris_admin("POST", f"workers/{worker['employee_id']}/terminate", json={"date": "2024-03-29", "webhook": False})
    hris_run(env)
    assert provision(env)["deactivate"] == 1


def hris_key(entry: dict[str, Any], position: int) -> str:
    """The quarantine key of a corpus record: its id as sent (made storable), or ``#<position>``."""
    raw = entry["employee_id"]
    return storable_text(str(raw).strip()) if raw not in (None, "") else f"#{position}"


def run_hris_json_corpus(env: Env, corpus: dict[str, Any]) -> tuple[str, str]:
    """The JSON corpus in one delta: rejected for its quarantine share, parked, rerun, merged."""
    entries = corpus["records"]
    api = [e for e in entries if e["via"] == "hris_api"]
    crafted = [e for e in entries if e["via"] == "export"]
    for entry in api:  # the HRIS contract accepts these: they come back through its real export
        record = hris_record(corpus, entry)
        env.hris_admin("PUT", f"workers/{quote(record['employee_id'], safe='')}", json=record)
    since = hris_watermark(env)
    crafted_records = [{"updated_at": CRAFTED_UPDATED_AT, **hris_record(corpus, e)} for e in crafted]
    windows = {since: crafted_records}
    core_before = core_fingerprint(env)
    # Positions in the extract: the HRIS export (updated_at order = PUT order), then the crafted records.
    keys = {e["case"]: hris_key(e, n) for n, e in enumerate([*api, *crafted], start=1)}

    with pytest.raises(BatchRejected) as err:
        hris_run(env, corpus_export(windows))

    message = str(err.value)
    batch_id = env.scalar("SELECT batch_id::text FROM audit.batches WHERE status = 'rejected'")
    bad = [e for e in entries if e["expect"]["outcome"] == "quarantined"]
    assert f"quarantine_share: {len(bad)} of {len(entries)} records quarantined and not parked" in message, message
    named = env.rows("SELECT record_key, rule FROM audit.quarantine WHERE batch_id = %s ORDER BY quarantine_id"
                     " LIMIT 5", batch_id)
    for key, rule in named:
        assert f"{key} ({rule}:" in message, f"the rejection does not name {key} ({rule}): {message[:2000]}"
    for entry in entries:
        if entry["expect"]["outcome"] == "batch_rejected":
            assert f"{entry['expect']['rule']} " in message and keys[entry["case"]] in message, message[:3000]
            assert entry["expect"]["field"] in message
    assert core_fingerprint(env) == core_before, "a rejected batch changed core"
    assert hris_watermark(env) == since, "the watermark moved past a rejected batch"
    found = quarantine_of(env, batch_id)
    for entry in bad:
        assert_quarantined(found, keys[entry["case"]], entry["expect"], entry["case"])
    assert set(found) == {keys[e["case"]] for e in bad}, "a record was quarantined that the corpus expects loaded"

    # Unblock as the runbook says: park the named records (CLI), then rerun the tenant's export.
    to_park = [keys[e["case"]] for e in entries if e["expect"]["outcome"] in ("quarantined", "batch_rejected")]
    parked = park(env, batch_id, to_park)
    assert parked.returncode == 0, parked.stderr
    assert f"parked {len(to_park)} record(s) of batch {batch_id}" in parked.stdout
    result = hris_run(env, corpus_export(windows))

    good = [e for e in entries if e["expect"]["outcome"] == "loaded"]
    assert result["batch_id"] == batch_id, "the retry is the same batch"
    assert (result["inserted"], result["loaded"], result["quarantined"]) == (len(good), len(good), len(to_park))
    assert hris_watermark(env) not in (None, since), "the watermark did not move once every record was parked"
    assert assert_reconciled(env, batch_id) == (len(entries), len(good), len(to_park), 0)
    found = quarantine_of(env, batch_id)
    for entry in entries:
        key, expect = keys[entry["case"]], entry["expect"]
        if expect["outcome"] == "loaded":
            assert key not in found, entry["case"]
            assert_loaded(env, entry, batch_id)
        elif expect["outcome"] == "quarantined":
            assert_quarantined(found, key, expect, entry["case"])
            assert all(parked_at is not None for _, _, parked_at in found[key]), entry["case"]
        else:  # named by a gate expectation, then parked by on-call
            assert [rule for rule, _, _ in found[key]] == ["parked"], entry["case"]
            assert env.scalar("SELECT count(*) FROM core.workers WHERE employee_id = %s", key) == 0
    assert env.scalar("SELECT schema_drift -> 'unknown' FROM audit.batches WHERE batch_id = %s", batch_id) == \
        {"employment.badge_color": 1}, "the tolerated unknown field is recorded on the batch"
    return batch_id, since


def assert_loaded(env: Env, entry: dict[str, Any], batch_id: str) -> None:
    expect = entry["expect"]
    employee_id = expect.get("employee_id", entry["employee_id"])
    rows = env.rows("SELECT to_jsonb(w) FROM core.workers w WHERE tenant_id = %s AND employee_id = %s",
                    TENANT, employee_id)
    assert len(rows) == 1, f"{entry['case']}: {employee_id!r} is not in core.workers"
    row = rows[0][0]
    assert row["last_batch_id"] == batch_id, entry["case"]
    for column in ("given_name", "family_name", "work_email", "email_normalized"):
        if column in expect:
            assert row[column] == expect[column], (entry["case"], column, row[column])


def run_provisioning(env: Env, corpus: dict[str, Any]) -> None:
    """Every loaded worker gets its account; the case variant is a dead letter naming both ids."""
    report = provision(env)
    variants = [e for e in corpus["records"] if "then" in e["expect"]]
    assert report["failed"] == 0, report
    assert report["conflicts"] == len(variants), report
    users = {u["externalId"]: u for u in ScimHook(f"scim_{TENANT}", TENANT).client().iter_users()}
    for entry in corpus["records"]:
        expect = entry["expect"]
        employee_id = expect.get("employee_id", entry["employee_id"])
        if expect["outcome"] == "loaded" and "then" not in expect:
            assert employee_id in users and users[employee_id]["active"] is True, entry["case"]
    for entry in variants:
        then = entry["expect"]["then"]
        ((source, reason, detail),) = env.rows(
            "SELECT source, reason, detail FROM audit.dead_letters WHERE entity_key = %s", entry["employee_id"])
        assert (source, reason) == (then["source"], then["reason"])
        assert (detail["employee_id"], detail["bound_employee_id"]) == (entry["employee_id"], then["bound_employee_id"])
        assert entry["employee_id"] in detail["message"] and then["bound_employee_id"] in detail["message"]
        assert entry["employee_id"] not in users, "the conflicting worker got an account"
        assert users[then["bound_employee_id"]]["active"] is False, "the terminated worker's account changed"


def write_drop_file(folder: Path, name: str, header: list[str], lines: list[bytes]) -> Path:
    path = folder / name
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(header)
    path.write_bytes(buffer.getvalue().encode("utf-8") + b"".join(lines))
    return path


def csv_line(cells: list[str], encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue().encode(encoding)


def run_filedrop_corpus(env: Env, corpus: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """A small file (under the share rule's minimum): bad rows quarantined, the rest merged; and a
    file with wrong headers: refused whole, naming the columns."""
    from sandbox.hris.records import WORKER_COLUMNS

    header = list(WORKER_COLUMNS)
    lines = []
    for entry in corpus["rows"]:
        if "raw_line" in entry:
            lines.append(entry["raw_line"].encode("utf-8") + b"\r\n")
            continue
        cells = {**corpus["base"], "employee_id": entry["employee_id"], **expand(entry["cells"])}
        lines.append(csv_line([cells[c] for c in header], "latin-1" if entry.get("latin1_cells") else "utf-8"))
    good_file = write_drop_file(folder, "workers_20250201T080000Z.csv", header, lines)
    core_before = core_fingerprint(env)
    result = hris_run(env, flow.csv_export(good_file))

    rows = corpus["rows"]
    good = [e for e in rows if e["expect"]["outcome"] == "loaded"]
    bad = [e for e in rows if e["expect"]["outcome"] == "quarantined"]
    batch_id = result["batch_id"]
    assert (result["records_in"], result["loaded"], result["quarantined"]) == (len(rows), len(good), len(bad))
    assert_reconciled(env, batch_id)
    found = quarantine_of(env, batch_id)
    for position, entry in enumerate(rows, start=1):
        if entry["expect"]["outcome"] == "loaded":
            assert_loaded(env, entry, batch_id)
        else:
            assert_quarantined(found, hris_key(entry, position), entry["expect"], entry["case"])
    assert len(found) == len(bad)
    changed = {t for t, h in core_fingerprint(env).items() if core_before[t] != h}
    assert changed <= {"workers", "worker_changes"}, f"a file drop changed {changed}"
    provisioned = provision(env)  # the core.workers asset triggers scim_provisioning
    assert (provisioned.get("create"), provisioned["failed"]) == (len(good), 0), provisioned

    drift = corpus["wrong_header"]
    drifted = [drift["rename"].get(c, c) for c in header] + drift["add"]
    lines = [csv_line([{**corpus["base"], "employee_id": e["employee_id"]}.get(c, "") for c in header] + ["x"])
             for e in drift["rows"]]
    bad_file = write_drop_file(folder, "workers_20250202T080000Z.csv", drifted, lines)
    core_before = core_fingerprint(env)
    with pytest.raises(BatchRejected) as err:
        hris_run(env, flow.csv_export(bad_file))
    message = str(err.value)
    assert "schema_drift (csv header)" in message
    for entry in drift["rows"]:
        assert entry["expect"]["field"] in message, message
    assert "missing required columns employment.status" in message and "unknown columns" in message, message
    assert all(column in message.split("unknown columns", 1)[1] for column in ("employment.state", "nickname"))
    assert core_fingerprint(env) == core_before
    return good_file, bad_file


def xapi_statement(corpus: dict[str, Any], entry: dict[str, Any]) -> Any:
    if "record" in entry:
        return copy.deepcopy(entry["record"])
    statement = {"id": entry["id"], **merged(corpus["base"], expand(entry.get("patch", {})))}
    if entry.get("via") == "crafted":
        statement["stored"] = "2025-05-01T10:00:01.000Z"  # what an LRS would have stamped
    return statement


def run_xapi_corpus(env: Env, corpus: dict[str, Any]) -> dict[str | None, list[Any]]:
    """Setup statements loaded; then the corpus in one pull: refused for its share, rerun with the
    limit raised (the documented unblock), good statements merged, bad ones quarantined."""
    setup = {e["case"]: xapi_statement(corpus, e) for e in corpus["setup"]}
    send_statements(env, list(setup.values()))
    setup_batch, setup_merge = lms_run(env)
    assert setup_merge.inserted == len(setup)

    # The LRS is rebuilt from an export (its own 409 would refuse a changed statement under a stored id).
    requests.post(f"{env.lrs_url}/admin/reset", timeout=10).raise_for_status()
    statements = corpus["statements"]
    fill = corpus["fillers"]
    fillers = [merged(corpus["base"], {"id": f"f0000000-0000-4000-8000-{n:012d}",
                                       "actor": {"account": {"name": fill["actor"]}},
                                       "object": {"id": f"https://lms.acme.example/courses/{fill['course_prefix']}{n}"}})
               for n in range(fill["count"])]
    by_via: dict[str, list[Any]] = {"lrs_api": [], "lrs_inject": [], "crafted": []}
    for entry in statements:
        statement = setup[entry["same_as_setup"]] if "same_as_setup" in entry else xapi_statement(corpus, entry)
        by_via[entry["via"]].append(statement)
    send_statements(env, [*by_via["lrs_api"], *fillers])
    requests.post(f"{env.lrs_url}/admin/{TENANT}/statements", json=by_via["lrs_inject"],
                  timeout=10).raise_for_status()
    with connect(env.warehouse_url) as conn:
        since = current_watermark(conn, TENANT, LRS_STREAM)
    crafted = {since: by_via["crafted"]}
    core_before = core_fingerprint(env)

    with pytest.raises(CompletionsRejected, match="quarantine_share"):
        lms_run(env, crafted)
    assert core_fingerprint(env) == core_before, "a rejected learning batch changed core"
    with connect(env.warehouse_url) as conn:
        assert current_watermark(conn, TENANT, LRS_STREAM) == since

    batch, result = lms_run(env, crafted, RAISED_SHARE)

    good = [e for e in statements if e["expect"]["outcome"] == "loaded"]
    bad = [e for e in statements if e["expect"]["outcome"] == "quarantined"]
    new = [e for e in good if "same_as_setup" not in e]
    assert (batch.records_in, batch.records_quarantined) == (len(statements) + len(fillers), len(bad))
    assert result.inserted == len(new) + len(fillers) and result.held == 0
    assert_reconciled(env, batch.batch_id)
    found = quarantine_of(env, batch.batch_id)
    for entry in bad:
        key = entry["id"] or next(k for k in found if k.startswith("xapi#"))
        assert_quarantined(found, key, entry["expect"], entry["case"])
        assert env.scalar("SELECT count(*) FROM core.completions WHERE source_id = %s AND batch_id = %s",
                          key, batch.batch_id) == 0, entry["case"]
    assert len(found) == len(bad)
    for entry in good:
        rows = env.rows("SELECT employee_id, course_code, batch_id::text FROM core.completions WHERE source_id = %s",
                        entry["id"])
        assert len(rows) == 1, f"{entry['case']}: {len(rows)} completions"
        employee_id, course_code, loaded_by = rows[0]
        assert course_code == entry["expect"]["course_code"], entry["case"]
        if "employee_id" in entry["expect"]:
            assert employee_id == entry["expect"]["employee_id"], entry["case"]
        assert loaded_by == (setup_batch.batch_id if "same_as_setup" in entry else batch.batch_id), entry["case"]
    conflict = next(e for e in bad if e["expect"]["rule"] == "conflicting_duplicate")
    assert setup_batch.batch_id in found[conflict["id"]][0][1], "the reason names the first version's batch"
    return crafted


def run_hris_drift_corpus(env: Env, corpus: dict[str, Any]) -> dict[str | None, list[dict[str, Any]]]:
    """Records whose shape changed: their whole batch is refused (not parkable), naming fields and records."""
    since = hris_watermark(env)
    windows = {since: [{"updated_at": CRAFTED_UPDATED_AT, **hris_record(corpus, e)} for e in corpus["drift"]]}
    core_before = core_fingerprint(env)
    with pytest.raises(BatchRejected) as err:
        hris_run(env, corpus_export(windows))
    message = str(err.value)
    assert "schema_drift (json, 3 records): missing required fields" in message, message
    for entry in corpus["drift"]:
        if "field" in entry["expect"]:
            assert f"{entry['expect']['field']} (1 of 3 records, e.g. {entry['employee_id']})" in message, message
    assert "parking cannot help" in message
    assert core_fingerprint(env) == core_before and hris_watermark(env) == since
    return windows


def test_every_corpus_record_ends_loaded_quarantined_dead_lettered_or_in_a_refused_batch(env, tmp_path) -> None:
    hris, filedrop, xapi = load("hris_workers.json"), load("hris_filedrop.json"), load("xapi_statements.json")
    hris_setup_terminated_worker(env, hris)

    json_batch, _ = run_hris_json_corpus(env, hris)
    run_provisioning(env, hris)
    good_file, bad_file = run_filedrop_corpus(env, filedrop, tmp_path)
    xapi_crafted = run_xapi_corpus(env, xapi)
    drift_windows = run_hris_drift_corpus(env, hris)

    # Rerun everything (each DAG's next run, the same files still in the drop folder): nothing changes.
    core_before, history_before = core_fingerprint(env), history_counts(env)
    batches_before = env.scalar("SELECT count(*) FROM audit.batches")
    with pytest.raises(BatchRejected, match="schema_drift"):
        hris_run(env, corpus_export(drift_windows))  # still drifted: the same batch refused again
    rerun = provision(env)
    assert rerun["pushed"] == 0 and rerun["conflicts"] == 1 and rerun["failed"] == 0
    again = hris_run(env, flow.csv_export(good_file))
    assert again["records_in"] == 0 and not again["changed"], "a merged file was staged again"
    with pytest.raises(BatchRejected, match="schema_drift"):
        hris_run(env, flow.csv_export(bad_file))
    batch, result = lms_run(env, xapi_crafted, RAISED_SHARE)
    assert batch.records_in == 0 and result.inserted == 0

    assert core_fingerprint(env) == core_before
    assert history_counts(env) == history_before
    assert env.scalar("SELECT count(*) FROM audit.batches") == batches_before + 1  # the empty LRS pull's batch
    assert env.scalar("SELECT count(*) FROM audit.batches WHERE batch_id = %s AND status = 'merged'", json_batch) == 1
    # Merged batches reconcile; a refused one loaded nothing (its records wait for the fix at the source).
    assert env.scalar("SELECT count(*) FROM audit.batches WHERE status = 'merged'"
                      " AND records_in <> records_loaded + records_quarantined + records_dead") == 0
    assert env.rows("SELECT DISTINCT records_loaded FROM audit.batches WHERE status = 'rejected' AND source = 'hris'") \
        == [(0,)]
