"""The HRIS sandbox over real HTTP: a uvicorn subprocess on a free port with its own data dir."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.hris.records import unflatten
from sandbox.synth.changes import iter_changes
from sandbox.synth.workforce import iter_workers

REPO = Path(__file__).resolve().parents[3]
TOKENS = {"acme": "tok-acme", "globex": "tok-globex"}
SEED = {"tenants": {"acme": {"workers": 1200, "seed": 7}}}
WORKFORCE = list(iter_workers("acme", 1200, 7))
#: Workers active on day 0, so terminating one is a real lifecycle change (ids vary in prefix).
ACTIVE = [w["employee_id"] for w in WORKFORCE if w["employment"]["status"] == "active"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class HrisServer:
    """One uvicorn process serving the HRIS sandbox; restartable on the same data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.process: subprocess.Popen | None = None
        self.url = ""

    def start(self) -> None:
        port = _free_port()
        env = {
            **os.environ,
            "PYTHONPATH": f"{REPO}{os.pathsep}{REPO / 'plugins'}",
            "SANDBOX_DATA_DIR": str(self.data_dir),
            "SANDBOX_HRIS_TOKENS": json.dumps(TOKENS),
            "SANDBOX_SEED": json.dumps(SEED),
        }
        env.pop("SANDBOX_FAULTS_HRIS", None)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "sandbox.hris.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            cwd=REPO, env=env,
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"HRIS sandbox exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("HRIS sandbox did not become healthy within 60 s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture(scope="module")
def hris(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HrisServer]:
    server = HrisServer(tmp_path_factory.mktemp("hris"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def acme(hris: HrisServer) -> Iterator[httpx.Client]:
    """A client for tenant acme, freshly reseeded (1200 workers, seed 7) and faults off."""
    with httpx.Client(base_url=hris.url, headers={"Authorization": f"Bearer {TOKENS['acme']}"}, timeout=30) as client:
        client.delete("/admin/faults").raise_for_status()
        client.delete("/admin/tenants/acme/webhook").raise_for_status()
        client.post("/admin/tenants/acme/seed", json={"workers": 1200, "seed": 7}).raise_for_status()
        yield client


class Receiver:
    """A webhook receiver on a free loopback port, recording every request."""

    def __init__(self) -> None:
        received: list[tuple[dict[str, str], bytes]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/hris"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def _export(client: httpx.Client, limit: int, updated_since: str | None = None, between_pages: Any = None) -> tuple:
    """All pages of an export: (workers in order, as_of of the first page)."""
    params: dict[str, Any] = {"limit": limit}
    if updated_since:
        params["updated_since"] = updated_since
    workers, as_of, page = [], None, 0
    while True:
        body = client.get("/api/v1/tenants/acme/workers", params=params).raise_for_status().json()
        as_of = as_of or body["as_of"]
        workers.extend(body["data"])
        page += 1
        if between_pages and page == 1:
            between_pages()
        if not body["next_cursor"]:
            return workers, as_of
        params = {"limit": limit, "cursor": body["next_cursor"]}


def test_health_needs_no_token(hris: HrisServer) -> None:
    assert httpx.get(f"{hris.url}/health").json() == {"status": "ok"}


def test_business_endpoints_demand_the_tenants_own_token(hris: HrisServer) -> None:
    url = f"{hris.url}/api/v1/tenants/acme/workers"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKENS['globex']}"}).status_code == 403
    assert httpx.get(url, headers={"Authorization": f"Bearer {TOKENS['acme']}"}).status_code == 200


def test_tenant_is_seeded_from_env_at_first_start(hris: HrisServer) -> None:
    body = httpx.get(f"{hris.url}/api/v1/tenants/acme/workers/E000001",
                     headers={"Authorization": f"Bearer {TOKENS['acme']}"}).json()
    assert body["employee_id"] == "E000001"
    assert body["certifications"] == [] and body["payroll_flags"] == []


def test_full_export_pages_every_worker_exactly_once_while_workers_change(acme: httpx.Client) -> None:
    everyone, _ = _export(acme, 5000)
    seen_first, unseen_id = everyone[0]["employee_id"], everyone[-1]["employee_id"]
    unseen = dict(everyone[-1])

    def mutate() -> None:
        # One worker already exported, one not yet reached: both move to the end of the order.
        acme.post(f"/admin/tenants/acme/workers/{seen_first}/terminate", json={"date": "2026-11-02"}).raise_for_status()
        unseen["employment"]["job_title"] = "Moved mid-export"
        acme.put(f"/admin/tenants/acme/workers/{unseen_id}", json=unseen).raise_for_status()

    workers, as_of = _export(acme, 250, between_pages=mutate)
    ids = [w["employee_id"] for w in workers]
    assert len(ids) == 1200 and len(set(ids)) == 1200
    order = [(w["updated_at"], w["employee_id"]) for w in workers]
    assert order == sorted(order)
    # The export is the snapshot at as_of: the mid-export change is not in it...
    assert next(w for w in workers if w["employee_id"] == unseen_id)["employment"]["job_title"] != "Moved mid-export"
    # ...and the next delta, from as_of, carries exactly the two changes.
    delta, _ = _export(acme, 250, updated_since=as_of)
    assert sorted(w["employee_id"] for w in delta) == sorted([seen_first, unseen_id])
    assert next(w for w in delta if w["employee_id"] == unseen_id)["employment"]["job_title"] == "Moved mid-export"
    assert all(w["updated_at"] >= as_of for w in delta)


def test_updated_at_strictly_increases_across_rapid_changes(acme: httpx.Client) -> None:
    stamps = [
        acme.post(f"/admin/tenants/acme/workers/{employee_id}/terminate", json={"webhook": False}).json()["updated_at"]
        for employee_id in ACTIVE[:6]
    ]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_day_changes_show_up_in_the_delta_export_once(acme: httpx.Client) -> None:
    _, as_of = _export(acme, 5000)
    applied = acme.post("/admin/tenants/acme/changes/1").json()
    expected = {change["employee_id"]: change for change in iter_changes("acme", 1200, 7, 1)}
    assert applied["applied"] == len(expected) and "hire" in applied["by_kind"]
    delta, _ = _export(acme, 7, updated_since=as_of)
    assert {w["employee_id"] for w in delta} == set(expected)
    for worker in delta:
        want = {k: v for k, v in expected[worker["employee_id"]]["worker"].items() if k != "updated_at"}
        assert {k: v for k, v in worker.items() if k != "updated_at"} == want
    again = acme.post("/admin/tenants/acme/changes/1").json()
    assert again["already_applied"] is True
    assert _export(acme, 500, updated_since=as_of)[0] == delta


def test_csv_export_equals_json_export(acme: httpx.Client) -> None:
    workers, _ = _export(acme, 5000)
    response = acme.get("/api/v1/tenants/acme/workers.csv")
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert "name.given" in rows[0] and "employment.status" in rows[0]
    assert [unflatten(row) for row in rows] == workers


def test_file_drop_writes_the_csv_into_the_tenant_folder(acme: httpx.Client, hris: HrisServer) -> None:
    body = acme.post("/admin/tenants/acme/filedrop").json()
    path = Path(body["path"])
    assert path.parent == hris.data_dir / "hris_drop" / "acme" and path.name.startswith("workers_")
    rows = list(csv.DictReader(path.open(encoding="utf-8", newline="")))
    assert len(rows) == body["rows"] == 1200


def test_webhook_signature_verifies_with_the_shared_secret(acme: httpx.Client, receiver: Receiver) -> None:
    secret = "s3cret-for-acme"
    acme.put("/admin/tenants/acme/webhook", json={"url": receiver.url, "secret": secret}).raise_for_status()
    acme.post(f"/admin/tenants/acme/workers/{ACTIVE[10]}/terminate", json={"date": "2026-11-03"}).raise_for_status()
    assert len(receiver.received) == 1
    headers, raw = receiver.received[0]
    stamp, signature = (part.split("=", 1)[1] for part in headers["x-hris-signature"].split(","))
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + raw, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    assert abs(int(stamp) - time.time()) < 60
    event = json.loads(raw)
    assert event["type"] == "worker.terminated" and event["employee_id"] == ACTIVE[10]
    assert event["tenant_id"] == "acme" and event["event_id"] and event["occurred_at"].endswith("Z")
    delivery = acme.get("/admin/tenants/acme/webhook-deliveries").json()["data"][-1]
    assert delivery["outcome"] == "delivered" and delivery["status_code"] == 204
    assert delivery["event_id"] == event["event_id"]


def test_rehire_sends_worker_hired(acme: httpx.Client, receiver: Receiver) -> None:
    acme.put("/admin/tenants/acme/webhook", json={"url": receiver.url, "secret": "x"}).raise_for_status()
    worker = acme.post(f"/admin/tenants/acme/workers/{ACTIVE[11]}/terminate", json={"date": "2026-11-03"}).json()
    worker["employment"].update(status="active", rehire_date="2026-11-20")
    acme.put(f"/admin/tenants/acme/workers/{ACTIVE[11]}", json=worker).raise_for_status()
    assert [json.loads(raw)["type"] for _, raw in receiver.received] == ["worker.terminated", "worker.hired"]


def test_drop_webhooks_fault_suppresses_delivery_and_logs_it(acme: httpx.Client, receiver: Receiver) -> None:
    acme.put("/admin/tenants/acme/webhook", json={"url": receiver.url, "secret": "x"}).raise_for_status()
    acme.put("/admin/faults", json={"drop_webhooks": True}).raise_for_status()
    acme.post(f"/admin/tenants/acme/workers/{ACTIVE[12]}/terminate", json={}).raise_for_status()
    assert receiver.received == []
    delivery = acme.get("/admin/tenants/acme/webhook-deliveries").json()["data"][-1]
    assert delivery["outcome"] == "dropped" and delivery["employee_id"] == ACTIVE[12]


def test_certification_writeback_upserts_and_rejects_stale_updates(acme: httpx.Client) -> None:
    url = f"/api/v1/tenants/acme/workers/{ACTIVE[20]}/certifications/CPR"
    body = {"status": "active", "summary": "CPR & AED", "valid_from": "2026-01-10", "valid_until": "2028-01-10",
            "credential_id": "urn:uuid:1", "updated_at": "2026-01-10T10:00:00Z"}
    assert acme.put(url, json=body).status_code == 201
    repeat = acme.put(url, json=body)
    assert repeat.status_code == 200 and repeat.json()["changed"] is False
    revoked = {**body, "status": "revoked", "updated_at": "2026-05-01T00:00:00Z"}
    assert acme.put(url, json=revoked).json()["changed"] is True
    stale = acme.put(url, json={**body, "updated_at": "2026-02-01T00:00:00Z"})
    assert stale.status_code == 409 and stale.json()["current"]["status"] == "revoked"
    listing = acme.get("/api/v1/tenants/acme/certifications").json()
    assert [(c["employee_id"], c["credential_type"], c["status"]) for c in listing["data"]] == [
        (ACTIVE[20], "CPR", "revoked")
    ]
    assert acme.put("/api/v1/tenants/acme/workers/E999999/certifications/CPR", json=body).status_code == 404


def test_payroll_flags_list_in_pages_and_show_on_the_worker(acme: httpx.Client) -> None:
    for employee_id in ACTIVE[21:26]:
        acme.put(f"/api/v1/tenants/acme/workers/{employee_id}/payroll-flags/forklift_premium",
                 json={"active": True, "effective_from": "2026-11-01", "credential_id": f"c-{employee_id}"}
                 ).raise_for_status()
    pages, params = [], {"limit": 2}
    while True:
        body = acme.get("/api/v1/tenants/acme/payroll-flags", params=params).json()
        pages.append(body["data"])
        if not body["next_cursor"]:
            break
        params = {"limit": 2, "cursor": body["next_cursor"]}
    assert [len(page) for page in pages] == [2, 2, 1]
    assert sorted(f["employee_id"] for page in pages for f in page) == sorted(ACTIVE[21:26])
    worker = acme.get(f"/api/v1/tenants/acme/workers/{ACTIVE[23]}").json()
    assert worker["payroll_flags"][0]["flag"] == "forklift_premium" and worker["payroll_flags"][0]["active"] is True


def test_bad_cursor_and_oversized_limit_are_rejected(acme: httpx.Client) -> None:
    assert acme.get("/api/v1/tenants/acme/workers", params={"cursor": "garbage"}).status_code == 400
    assert acme.get("/api/v1/tenants/acme/workers", params={"limit": 5001}).status_code == 422
    assert acme.get("/api/v1/tenants/acme/workers", params={"updated_since": "yesterday"}).status_code == 400


def test_restart_keeps_state(hris: HrisServer, acme: httpx.Client) -> None:
    employee_id = ACTIVE[30]
    acme.put(f"/api/v1/tenants/acme/workers/{employee_id}/payroll-flags/hazmat",
             json={"active": True, "credential_id": "c30"}).raise_for_status()
    before = acme.get(f"/api/v1/tenants/acme/workers/{employee_id}").json()
    hris.stop()
    hris.start()
    with httpx.Client(base_url=hris.url, headers={"Authorization": f"Bearer {TOKENS['acme']}"}) as client:
        assert client.get(f"/api/v1/tenants/acme/workers/{employee_id}").json() == before
        after = client.post(f"/admin/tenants/acme/workers/{employee_id}/terminate", json={"webhook": False}).json()
    assert after["updated_at"] > before["updated_at"]
