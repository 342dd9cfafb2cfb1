"""HRIS webhooks end to end: the real HRIS sandbox signs and sends, the receiver (uvicorn) verifies,
records in a real Postgres and triggers what the DAGs run; the SCIM sandbox ends with the account off."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import requests
import uvicorn

from credsync.hooks.hris import HrisHook
from credsync.hooks.scim import ScimHook
from credsync.people import flow
from credsync.people.provision import provision_tenant
from credsync.people.webhook_app import connection_secret, create_app
from credsync.people.webhooks import SIGNATURE_HEADER, Outcome, WebhookEvent, WebhookReceiver, sign
from credsync.tenants import load_tenants
from credsync.warehouse import connect

pytestmark = pytest.mark.slow


def run_like_the_dags(warehouse_url: str, tenant_id: str, run_id: str) -> dict:
    """What a hris_delta_export run and the scim_provisioning run it triggers do for one tenant."""
    tenant = next(t for t in load_tenants() if t.tenant_id == tenant_id)
    staged = flow.extract_and_stage(warehouse_url, tenant_id=tenant_id,
                                    open_export=HrisHook(tenant.conn_id("hris"), tenant_id).export,
                                    dag_run_id=run_id)
    merged = flow.merge(warehouse_url, flow.gate(warehouse_url, staged))
    with connect(warehouse_url) as conn:
        provisioned = provision_tenant(conn, ScimHook(tenant.conn_id("scim"), tenant_id).client(),
                                       tenant_id=tenant_id, dag_run_id=run_id).as_dict()
    return {"merge": merged, "provision": provisioned}


class DagRunsStandIn:
    """The trigger callback: queues the DAGs' work on one worker thread (max_active_runs=1) and
    answers at once with a run id, as triggering an Airflow run does."""

    def __init__(self, warehouse_url: str) -> None:
        self.warehouse_url = warehouse_url
        self.events: list[WebhookEvent] = []
        self.runs: list[Future] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dag-run")

    def __call__(self, event: WebhookEvent) -> str:
        self.events.append(event)
        run_id = f"hris_webhook__{event.tenant_id}__{event.event_id}"
        self.runs.append(self._pool.submit(run_like_the_dags, self.warehouse_url, event.tenant_id, run_id))
        return run_id

    def wait(self, timeout: float = 30) -> list[dict]:
        return [run.result(timeout=timeout) for run in self.runs]

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def serve(app) -> Iterator[str]:
    """``app`` under uvicorn on a free loopback port, in a thread; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # log_config=None: uvicorn's loggers propagate to the root logger, so caplog sees the access log.
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off", access_log=True))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "receiver did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def post_event(url: str, tenant: str, body: bytes, signature: str) -> requests.Response:
    return requests.post(f"{url}/hris/{tenant}/webhooks", data=body, timeout=10,
                         headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature})


def compact(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def stored_events(warehouse_url: str, tenant: str) -> dict[str, tuple]:
    with connect(warehouse_url) as conn:
        rows = conn.execute(
            "SELECT event_id, type, employee_id, status, triggered_run, deliveries, body"
            " FROM audit.hris_webhook_events WHERE tenant_id = %s", (tenant,)
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


@pytest.fixture
def webhook_secret(people_env, monkeypatch) -> Iterator[str]:
    """A fresh secret in the tenant's HRIS connection (extra ``webhook_secret``), as an operator sets it."""
    secret = secrets.token_urlsafe(32)
    conn_var = f"AIRFLOW_CONN_HRIS_{people_env.tenant.upper()}"
    conn = json.loads(os.environ[conn_var])
    monkeypatch.setenv(conn_var, json.dumps({**conn, "extra": {"webhook_secret": secret}}))
    yield secret
    people_env.hris_admin("DELETE", "webhook")


def test_terminated_worker_is_deactivated_in_the_lms_once_per_event(people_env, webhook_secret, caplog, capfd):
    env, tenant = people_env, people_env.tenant
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="great_expectations")  # its DEBUG output doubles the gate's time
    env.hris_admin("POST", "seed", json={"workers": 20, "seed": 11})  # small: the test is about one worker
    run_like_the_dags(env.warehouse_url, tenant, "initial_sync")
    with connect(env.warehouse_url) as conn:
        victim = conn.execute(
            "SELECT w.employee_id FROM core.workers w JOIN core.learners l USING (tenant_id, employee_id)"
            " WHERE w.tenant_id = %s AND w.employment_status = 'active' AND l.active ORDER BY 1 LIMIT 1",
            (tenant,),
        ).fetchone()[0]
    scim = ScimHook(f"scim_{tenant}", tenant).client()
    assert scim.find_user("externalId", victim)["active"] is True

    dag_runs = DagRunsStandIn(env.warehouse_url)
    receiver = WebhookReceiver(env.warehouse_url, secret_for=connection_secret, trigger=dag_runs)
    try:
        with serve(create_app(receiver)) as url:
            env.hris_admin("PUT", "webhook", json={"url": f"{url}/hris/{tenant}/webhooks", "secret": webhook_secret})

            # The HRIS change fires the signed webhook; the receiver answers before the run does its work.
            env.hris_admin("POST", f"workers/{victim}/terminate", json={})
            delivery = env.hris_admin("GET", "webhook-deliveries")["data"][-1]
            assert (delivery["outcome"], delivery["status_code"]) == ("delivered", 202)
            assert (delivery["type"], delivery["employee_id"]) == ("worker.terminated", victim)
            event_id = delivery["event_id"]
            results = dag_runs.wait()

            assert len(results) == 1 and results[0]["merge"]["updated"] == 1
            assert results[0]["provision"].get("deactivate") == 1
            assert scim.find_user("externalId", victim)["active"] is False
            recorded = stored_events(env.warehouse_url, tenant)
            assert set(recorded) == {event_id}
            kind, employee_id, status, run, deliveries, body = recorded[event_id]
            assert (kind, employee_id, status, deliveries) == ("worker.terminated", victim, "triggered", 1)
            assert run == f"hris_webhook__{tenant}__{event_id}" and body == delivery["body"]

            # The same event again (an HRIS retry): success, nothing triggered, no SCIM write.
            writes = env.scim_stats()["writes"]
            again_signature = sign(webhook_secret, compact(delivery["body"]), int(time.time()))
            again = post_event(url, tenant, compact(delivery["body"]), again_signature)
            assert again.status_code == 200
            assert again.json() == {"status": Outcome.ALREADY_PROCESSED.value, "event_id": event_id,
                                    "triggered_run": run}
            assert len(dag_runs.events) == 1 and env.scim_stats()["writes"] == writes
            assert stored_events(env.warehouse_url, tenant)[event_id][4] == 2  # deliveries counted

            # A different body under the seen event_id, even correctly signed, is refused.
            altered = compact({**delivery["body"], "type": "worker.hired"})
            conflict = post_event(url, tenant, altered, sign(webhook_secret, altered, int(time.time())))
            assert (conflict.status_code, conflict.json()["reason"]) == (409, "replayed_with_different_body")

            # A forged signature: 401, not recorded, nothing triggered.
            forged_event = {**delivery["body"], "event_id": str(uuid.uuid4())}
            forged_body = compact(forged_event)
            forged_signature = sign("not-the-secret", forged_body, int(time.time()))
            forged = post_event(url, tenant, forged_body, forged_signature)
            assert (forged.status_code, forged.json()["reason"]) == (401, "bad_signature")

            # A correctly signed but stale delivery (a captured request replayed later): rejected.
            stale_event = {**delivery["body"], "event_id": str(uuid.uuid4())}
            stale_body = compact(stale_event)
            stale = post_event(url, tenant, stale_body, sign(webhook_secret, stale_body, int(time.time()) - 301))
            assert (stale.status_code, stale.json()["reason"]) == (400, "stale_timestamp")

            unknown = post_event(url, "initech", stale_body, sign(webhook_secret, stale_body, int(time.time())))
            assert (unknown.status_code, unknown.json()["reason"]) == (404, "unknown_tenant")

            assert set(stored_events(env.warehouse_url, tenant)) == {event_id}
            assert len(dag_runs.events) == 1
    finally:
        dag_runs.close()

    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert "webhook rejected (bad_signature)" in logged and f"webhook {event_id} accepted" in logged
    assert webhook_secret not in logged
    for signature in (forged_signature, again_signature):
        assert signature.split("v1=")[1] not in logged
    with connect(env.warehouse_url) as conn:
        table = conn.execute("SELECT string_agg(t::text, '\n') FROM audit.hris_webhook_events t").fetchone()[0]
    assert webhook_secret not in table and "v1=" not in table


def test_failed_trigger_is_recorded_and_the_next_delivery_retries_it(fresh_warehouse_url):
    secret = "s3cret-for-this-test"
    attempts: list[str] = []

    def flaky_trigger(event: WebhookEvent) -> str:
        attempts.append(event.event_id)
        if len(attempts) == 1:
            raise ConnectionError("metadata database unavailable")
        return "run-2"

    receiver = WebhookReceiver(fresh_warehouse_url, secret_for=lambda t: secret if t == "acme" else None,
                               trigger=flaky_trigger)
    body = compact({"event_id": "evt-1", "type": "worker.hired", "tenant_id": "acme",
                    "employee_id": "E1", "occurred_at": "2026-01-05T08:00:00Z"})
    with serve(create_app(receiver)) as url:
        first = post_event(url, "acme", body, sign(secret, body, int(time.time())))
        assert first.status_code == 503 and first.headers["Retry-After"]
        assert stored_events(fresh_warehouse_url, "acme")["evt-1"][2:4] == ("trigger_failed", None)

        second = post_event(url, "acme", body, sign(secret, body, int(time.time())))
        assert (second.status_code, second.json()["triggered_run"]) == (202, "run-2")
        third = post_event(url, "acme", body, sign(secret, body, int(time.time())))
        assert third.status_code == 200
    assert attempts == ["evt-1", "evt-1"]
    assert stored_events(fresh_warehouse_url, "acme")["evt-1"][2:5] == ("triggered", "run-2", 3)


def test_concurrent_deliveries_of_one_event_trigger_once(fresh_warehouse_url):
    secret = "another-test-secret"
    triggered: list[str] = []

    def slow_trigger(event: WebhookEvent) -> str:
        triggered.append(event.event_id)
        time.sleep(0.3)  # the second delivery arrives while the first still holds the event
        return "run-1"

    receiver = WebhookReceiver(fresh_warehouse_url, secret_for=lambda t: secret, trigger=slow_trigger)
    body = compact({"event_id": "evt-9", "type": "worker.terminated", "tenant_id": "acme",
                    "employee_id": "E9", "occurred_at": "2026-01-05T08:00:00+00:00"})
    with ThreadPoolExecutor(max_workers=4) as pool:
        receipts = list(pool.map(lambda _: receiver.receive("acme", body, sign(secret, body, int(time.time()))),
                                 range(4)))
    assert triggered == ["evt-9"]
    assert sorted(r.outcome.value for r in receipts) == ["accepted"] + ["already_processed"] * 3
    assert {r.triggered_run for r in receipts} == {"run-1"}
