"""Completion events end to end: the LMS sandbox sends signed webhooks (duplicated, reordered, some
forged), the receiver (uvicorn) records them in a real Postgres and wakes Redis; a run's steps load
them through the LMS gate, issue, push to the registry sandbox and write back to the HRIS sandbox;
the scheduled pull of the same completions, before or after, adds nothing."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import date

import pytest
import requests

from credsync.credentials.issuance import issue_credentials
from credsync.credentials.rules import load_rules
from credsync.delivery.push import push_submissions
from credsync.delivery.writeback import sync_writebacks
from credsync.events import flow
from credsync.events.app import create_app
from credsync.events.receiver import SIGNATURE_HEADER, CompletionReceiver, sign
from credsync.events.wakeup import redis_waker
from credsync.hooks.lms import CompletionExport
from credsync.hooks.transport import BearerAuth, HttpClient
from credsync.ingest.gate import BatchRejected
from credsync.learning import flow as learning
from credsync.warehouse import connect
from sandbox.lms_events import EventFaults, LmsEventSender, completion_event, completion_item
from tests.integration.delivery.helpers import put_hris_workers
from tests.integration.events.conftest import TENANT
from tests.integration.people.test_hris_webhooks import serve

pytestmark = pytest.mark.slow
SECRET = "whsec-lms-events-test"
LEARNERS = [f"E{n:06d}" for n in range(1, 7)]


def add_workers(warehouse_url: str, employee_ids: list[str]) -> None:
    with connect(warehouse_url) as conn:
        for employee_id in employee_ids:
            conn.execute(
                "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name,"
                " employment_status, employment_type, source_updated_at, mapping_version, last_batch_id)"
                " VALUES (%s, %s, 'hris_main', 'Test', 'Worker', 'active', 'employee', now(), 'v1',"
                " gen_random_uuid())", (TENANT, employee_id))
        conn.commit()


def scalar(warehouse_url: str, sql: str, *args: object):
    with connect(warehouse_url) as conn:
        return conn.execute(sql, args).fetchone()[0]


def event_outcomes(warehouse_url: str) -> Counter:
    with connect(warehouse_url) as conn:
        return Counter(row[0] for row in conn.execute(
            "SELECT coalesce(outcome, status) FROM audit.lms_completion_events WHERE tenant_id = %s", (TENANT,)))


def run_events(warehouse_url: str, env, signing_key, run_id: str) -> dict:
    """What one completion_events run does for the tenant (the tasks call exactly these)."""
    merged = flow.merge(warehouse_url, flow.gate(warehouse_url, flow.claim_and_stage(
        warehouse_url, tenant_id=TENANT, run_id=run_id)))
    learners = flow.affected_learners(warehouse_url, tenant_id=TENANT, run_id=run_id)
    assert merged["learners"] == len(learners)
    deliver(warehouse_url, env, signing_key, run_id, learners)
    return merged | {"learners": learners}


def deliver(warehouse_url: str, env, signing_key, run_id: str, learners: list[str] | None) -> None:
    """Issue, push and write back (limited to ``learners``; None = everyone, as the daily DAGs do)."""
    rules = load_rules()
    with connect(warehouse_url, autocommit=True) as conn:
        issue_credentials(conn, tenant_id=TENANT, rules=rules, signing_key=signing_key, run_id=run_id)
    push_submissions(warehouse_url, TENANT, env.registry, operations=("issue",))
    only = None if learners is None else flow.writeback_keys(learners, (r.credential_type for r in rules))
    sync_writebacks(warehouse_url, TENANT, env.hris, as_of=date.today(), payroll_dir=env.payroll_dir, only=only)


def scheduled_pull(warehouse_url: str, env) -> dict:
    """The LMS REST half of an lms_completion_pull run (the LRS half has nothing here)."""
    export = HttpClient.for_url(f"{env.lms_url}/{TENANT}/lms/api/v1/", auth=BearerAuth(env.lms_token))
    staged = learning.extract_and_stage(
        warehouse_url, tenant_id=TENANT, open_statements=lambda since: [],
        open_completions=lambda since: CompletionExport(export, updated_since=since))
    return learning.merge(warehouse_url, learning.gate(warehouse_url, staged))


def registry_listing(env) -> Counter:
    return Counter(c.get("credential_id") or c.get("id") for c in env.registry.list_certificates(TENANT))


@pytest.fixture
def env(event_sandboxes, tmp_path):
    requests.post(f"{event_sandboxes.lms_url}/admin/reset", timeout=10).raise_for_status()
    requests.post(f"{event_sandboxes.registry_url}/admin/reset", timeout=10).raise_for_status()
    requests.post(f"{event_sandboxes.hris_url}/admin/reset", timeout=10).raise_for_status()
    put_hris_workers(event_sandboxes.hris_url, TENANT, LEARNERS)
    event_sandboxes.payroll_dir = tmp_path / "payroll"
    return event_sandboxes


def test_events_with_faults_are_recorded_once_and_the_pull_adds_nothing(env, fresh_warehouse_url, signing_key,
                                                                        wake_channel) -> None:
    url = fresh_warehouse_url
    add_workers(url, LEARNERS)
    receiver = CompletionReceiver(url, secret_for=lambda t: SECRET if t == TENANT else None,
                                  wake=redis_waker(wake_channel.client, wake_channel.channel))
    with serve(create_app(receiver)) as base:
        sender = LmsEventSender(env.lms_url, f"{base}/lms/{TENANT}/completions", TENANT, SECRET,
                                EventFaults(duplicate_rate=0.5, reorder_window=4, bad_signature_rate=0.4, seed=7))
        passed = [completion_item(e) for e in LEARNERS[:4]]
        in_progress = completion_item(LEARNERS[4], status="incomplete")
        stranger = completion_item("E000099")  # not in core.workers yet: held, as the pull holds it
        events = sender.emit([*passed, in_progress, stranger])

        statuses = Counter((d.forged, d.status) for d in sender.deliveries)
        assert statuses[(True, 401)] >= 1, statuses              # forged copies refused
        assert statuses[(False, 202)] == len(events), statuses   # each event accepted once...
        assert statuses[(False, 200)] >= 1, statuses             # ...and its duplicates answered as seen
        assert set(statuses) <= {(True, 401), (False, 202), (False, 200)}, statuses
        # A wake-up for each event (a duplicate of an event not processed yet wakes again: harmless).
        woken = Counter(m["event_id"] for m in wake_channel.messages())
        assert set(woken) == {e["event_id"] for e in events}, woken

        # The same event id with another body is refused; a stale signature too.
        changed = dict(events[0], completion={**events[0]["completion"], "course_code": "FORKLIFT-200"})
        body = json.dumps(changed).encode()
        answer = requests.post(f"{base}/lms/{TENANT}/completions", data=body, timeout=10,
                               headers={SIGNATURE_HEADER: sign(SECRET, body, int(time.time()))})
        assert (answer.status_code, answer.json()["reason"]) == (409, "replayed_with_different_body")
        fresh = json.dumps(completion_event(TENANT, completion_item(LEARNERS[5]))).encode()
        answer = requests.post(f"{base}/lms/{TENANT}/completions", data=fresh, timeout=10,
                               headers={SIGNATURE_HEADER: sign(SECRET, fresh, int(time.time()) - 3600)})
        assert (answer.status_code, answer.json()["reason"]) == (400, "stale_timestamp")
        sender.close()

    assert scalar(url, "SELECT count(*) FROM audit.lms_completion_events") == len(events)
    assert flow.open_tenants(url) == [TENANT]
    merged = run_events(url, env, signing_key, "completion_events__run1")
    assert merged["learners"] == LEARNERS[:4]
    assert event_outcomes(url) == Counter(loaded=4, not_completed=1, held=1)
    assert flow.open_tenants(url) == []

    assert scalar(url, "SELECT count(*) FROM core.completions WHERE source = 'lms_rest'") == 4
    assert scalar(url, "SELECT count(*) FROM core.credentials WHERE credential_type = 'cpr_aed'") == 4
    listing = registry_listing(env)
    assert sum(listing.values()) == 4 and max(listing.values()) == 1, listing
    assert scalar(url, "SELECT count(*) FROM core.writebacks WHERE target = 'hris_profile'"
                       " AND state = 'delivered'") == 4

    # The hourly pull reads the same four completions from the LMS export: nothing new.
    pulled = scheduled_pull(url, env)
    assert pulled["inserted"] == 0, pulled
    deliver(url, env, signing_key, "daily", None)
    assert scalar(url, "SELECT count(*) FROM core.credentials") == 4
    assert sum(registry_listing(env).values()) == 4

    # Per credential: completion -> event -> credential -> registry ack -> HRIS write-back.
    with connect(url) as conn:
        rows = conn.execute("SELECT path, completed_at, event_received_at, credential_at, registry_ack_at,"
                            " hris_writeback_at FROM core.credential_latency WHERE tenant_id = %s",
                            (TENANT,)).fetchall()
    assert len(rows) == 4
    for path, completed, received, credential, ack, written in rows:
        assert path == "event"
        assert completed <= received <= credential <= ack, (completed, received, credential, ack)
        assert written is not None and written >= credential


def test_pull_first_then_event_makes_one_completion_and_one_credential(env, fresh_warehouse_url,
                                                                        signing_key) -> None:
    url = fresh_warehouse_url
    add_workers(url, LEARNERS)
    receiver = CompletionReceiver(url, secret_for=lambda t: SECRET, wake=lambda tenant, event: None)
    item = completion_item(LEARNERS[0])
    with serve(create_app(receiver)) as base:
        sender = LmsEventSender(env.lms_url, f"{base}/lms/{TENANT}/completions", TENANT, SECRET)
        sender.record([item])                      # in the LMS export; the webhook is late
        assert scheduled_pull(url, env)["inserted"] == 1
        deliver(url, env, signing_key, "hourly", None)
        sender.send([completion_event(TENANT, item)])
        sender.close()
    merged = run_events(url, env, signing_key, "completion_events__late")
    assert merged["learners"] == [LEARNERS[0]]     # loaded (by the pull): same key, no second row
    assert scalar(url, "SELECT count(*) FROM core.completions") == 1
    assert scalar(url, "SELECT count(*) FROM core.credentials") == 1
    assert sum(registry_listing(env).values()) == 1
    with connect(url) as conn:
        assert conn.execute("SELECT path FROM core.credential_latency").fetchone()[0] == "pull"


def test_a_lost_wakeup_and_a_dead_run_are_recovered_by_the_sweep_exactly_once(env, fresh_warehouse_url,
                                                                             signing_key) -> None:
    url = fresh_warehouse_url
    add_workers(url, LEARNERS)

    def redis_down(tenant: str, event: str) -> None:
        raise ConnectionError("Redis is down")

    receiver = CompletionReceiver(url, secret_for=lambda t: SECRET, wake=redis_down)
    with serve(create_app(receiver)) as base:
        sender = LmsEventSender(env.lms_url, f"{base}/lms/{TENANT}/completions", TENANT, SECRET)
        sender.emit([completion_item(e) for e in LEARNERS[:3]])
        sender.close()
    assert [d.status for d in sender.deliveries] == [202, 202, 202]  # recorded: the wake-up is not the record
    assert scalar(url, "SELECT count(*) FROM audit.lms_completion_events WHERE wakeup_error LIKE %s",
                  "ConnectionError%") == 3

    # A run claims and stages them, then its worker dies before the merge.
    dead = flow.claim_and_stage(url, tenant_id=TENANT, run_id="completion_events__dead")
    assert dead["events"] == 3
    # Another run while the claim is fresh takes nothing; once it is stale, the sweep takes over.
    assert flow.claim_and_stage(url, tenant_id=TENANT, run_id="completion_events__early")["events"] == 0
    with connect(url) as conn:
        conn.execute("UPDATE audit.lms_completion_events SET claimed_at = now() - interval '1 hour'")
        conn.commit()
    merged = run_events(url, env, signing_key, "scheduled__sweep")
    assert merged["events"] == 3 and merged["learners"] == LEARNERS[:3]
    # The dead run's retry, later, finds nothing of its own left.
    assert flow.claim_and_stage(url, tenant_id=TENANT, run_id="completion_events__dead")["events"] == 0
    assert scalar(url, "SELECT count(*) FROM core.completions") == 3
    assert sum(registry_listing(env).values()) == 3
    assert event_outcomes(url) == Counter(loaded=3)


def test_the_lms_gate_refuses_a_bad_event_batch_and_core_is_untouched(env, fresh_warehouse_url) -> None:
    url = fresh_warehouse_url
    workers = [f"E{n:06d}" for n in range(1, 31)]
    add_workers(url, workers)
    receiver = CompletionReceiver(url, secret_for=lambda t: SECRET, wake=lambda tenant, event: None)
    items = [completion_item(e) for e in workers]
    for item in items[:5]:  # 5 of 30 scores out of range: over the 5 % the gate allows
        item["score"] = {"raw": 140, "min": 0, "max": 100}
    with serve(create_app(receiver)) as base:
        sender = LmsEventSender(env.lms_url, f"{base}/lms/{TENANT}/completions", TENANT, SECRET)
        sender.emit(items)
        sender.close()
    staged = flow.claim_and_stage(url, tenant_id=TENANT, run_id="completion_events__bad")
    with pytest.raises(BatchRejected, match="quarantine_share"):
        flow.gate(url, staged)
    assert scalar(url, "SELECT count(*) FROM core.completions") == 0
    assert event_outcomes(url) == Counter(refused=30)
    assert scalar(url, "SELECT count(*) FROM audit.quarantine WHERE tenant_id = %s", TENANT) == 5
