"""The marketplace sync end to end: real Postgres, the marketplace sandbox over loopback HTTP.

Acceptance (issue 17): provisioning (an OAuth client per tenant, scopes per flow) -> initial bulk sync
with checksum -> reconcile now and at +24 h -> signed events for completions and badges -> daily
reconcile with auto-correct where safe and flagged cases; under faults every record delivered exactly
once or dead-lettered with a reason; drift and delivery metrics per day and their 7-day gate.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from credsync.hooks.marketplace import FLOW_SCOPES, MarketplaceClient
from credsync.hooks.policy import RetryPolicy
from credsync.marketplace.bulk import initial_sync
from credsync.marketplace.events import EventsIncomplete, push_events
from credsync.marketplace.profile import profile_of
from credsync.marketplace.reconcile import due, reconcile, window_gate
from credsync.warehouse import connect
from sandbox.launcher import SandboxSet, generate_secrets, marketplace_client_id, start_all
from tests.conftest import migrated_database

KEY = b"p" * 32
FAST = RetryPolicy(initial_seconds=0.01, max_seconds=0.05, max_attempts=12, max_throttled=60)
HTTP = httpx.Client(timeout=10)
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def marketplace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxSet]:
    env = {**generate_secrets(["acme", "globex"]), "SANDBOX_MARKETPLACE_RATE": "1000",
           "SANDBOX_MARKETPLACE_BURST": "2000", "SANDBOX_MARKETPLACE_IMPORT_DELAY": "0.2"}
    with start_all(tmp_path_factory.mktemp("marketplace"), env=env, names=["marketplace"]) as running:
        yield running


@pytest.fixture
def market(marketplace: SandboxSet) -> Iterator[SandboxSet]:
    admin = marketplace.admin("marketplace")
    assert HTTP.post(f"{admin}/reset").status_code == 200
    yield marketplace
    HTTP.delete(f"{admin}/faults")


@pytest.fixture
def warehouse(postgres_server) -> Iterator[str]:
    with migrated_database(postgres_server) as url:
        yield url


def client(running: SandboxSet, flow: str, tenant: str = "acme") -> MarketplaceClient:
    entry = json.loads(running.env["SANDBOX_MARKETPLACE_CLIENTS"])[marketplace_client_id(tenant)]
    return MarketplaceClient.for_url(running.url("marketplace"), marketplace_client_id(tenant), entry["secret"],
                                     scope=FLOW_SCOPES[flow], signing_secret=entry["signing_secret"], policy=FAST)


def state(running: SandboxSet) -> dict[str, Any]:
    return HTTP.get(f"{running.admin('marketplace')}/state").json()


def seed(url: str, tenant: str = "acme", workers: int = 4) -> None:
    batch = uuid.uuid4()
    with connect(url) as conn:
        for n in range(workers):
            kind, status = ("contractor", "active") if n == 1 else ("employee", "terminated" if n == 2 else "active")
            conn.execute(
                "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name, work_email,"
                " email_normalized, employment_status, employment_type, source_updated_at, mapping_version,"
                " last_batch_id) VALUES (%s,%s,'hris_main','Ann','Lee',%s,%s,%s,%s,now(),'hris_worker_v1',%s)",
                (tenant, f"E{n:03d}", f"Ann.Lee{n}+lms@Acme.Example", f"ann.lee{n}@acme.example", status, kind,
                 batch))
            add_completion(conn, tenant, f"E{n:03d}", "CPR-101", T0 + timedelta(hours=n), 90)
        add_credential(conn, tenant, "E000")
        conn.commit()


def add_completion(conn: Any, tenant: str, employee: str, course: str, at: datetime, score: float | None) -> None:
    conn.execute("INSERT INTO core.completions (tenant_id, source, source_id, employee_id, course_code, verb, success,"
                 " score, completed_at, batch_id, mapping_version) VALUES (%s,'lrs',%s,%s,%s,'passed',true,%s,%s,%s,"
                 "'xapi_statement_v1')", (tenant, f"{employee}-{course}-{at.isoformat()}", employee, course, score, at,
                                          uuid.uuid4()))


def add_credential(conn: Any, tenant: str, employee: str) -> str:
    credential = str(uuid.uuid4())
    conn.execute("INSERT INTO core.credentials (credential_id, award_id, tenant_id, employee_id, credential_type,"
                 " issuer, rule_version, issue_date, expiry_date, status, evidence, rule_id) VALUES"
                 " (%s,%s,%s,%s,'cpr_aed','credsync-training','1','2026-03-01','2028-03-01','active','{}','CPR-AED')",
                 (credential, credential, tenant, employee))
    return credential


def sync_all(url: str, running: SandboxSet, store: Path) -> Any:
    return initial_sync(url, "acme", profile_of("acme"), client(running, "bulk"), store=store.as_uri(),
                        pseudonym_key=KEY, poll_seconds=0.1)


def events(url: str, running: SandboxSet) -> Any:
    return push_events(url, "acme", profile_of("acme"), client(running, "events"), client(running, "members"),
                       pseudonym_key=KEY)


def recon(url: str, running: SandboxSet, kind: str, now: datetime) -> Any:
    return reconcile(url, "acme", kind, client(running, "reconcile"), client(running, "members"), now=now)


def test_the_seed_flow_end_to_end(warehouse: str, market: SandboxSet, tmp_path: Path) -> None:
    seed(warehouse)
    first = sync_all(warehouse, market, tmp_path)
    assert (first.status, first.members, first.accepted, first.rejected) == ("completed", 4, 4, 0)
    export = Path(first.export_url.removeprefix("file://"))
    data = export.read_bytes()
    assert hashlib.sha256(data).hexdigest() == first.checksum_sha256
    assert Path(f"{export}.sha256").read_text().split()[0] == first.checksum_sha256
    held = {m["member_id"]: m for m in state(market)["members"] if m["tenant"] == "acme"}
    assert "E000" in held and "E003" in held and held["E000"]["email"] == "ann.lee0@acme.example"
    hidden = [m for m in held if m.startswith("psn_")]
    assert len(hidden) == 2, "the contractor and the alumna go under pseudonyms"
    assert "ann.lee1@acme.example" not in json.dumps(state(market)), "a pseudonymised email left credsync"
    assert sync_all(warehouse, market, tmp_path).status == "skipped"
    assert len(state(market)["imports"]) == 1

    with connect(warehouse) as conn:
        assert due(conn, "acme", T0) == ["initial"]
    now = datetime.now(UTC)
    initial = recon(warehouse, market, "initial", now)
    assert (initial.missing, initial.mismatched, initial.unexpected, initial.drift_share) == (0, 0, 0, 0)

    with connect(warehouse) as conn:
        add_completion(conn, "acme", "E000", "FIRSTAID-110", T0 + timedelta(days=1), 80)
        add_credential(conn, "acme", "E003")
        conn.commit()
    sent = events(warehouse, market)
    assert (sent.recorded, sent.acknowledged, sent.dead, sent.remaining) == (2, 2, 0, 0)
    again = events(warehouse, market)
    assert (again.recorded, again.sent) == (0, 0), "a rerun sends nothing"
    receipts = Counter(r["event_id"] for r in state(market)["event_receipts"] if r["tenant"] == "acme")
    assert len(receipts) == 2 and set(receipts.values()) == {1}

    with connect(warehouse) as conn:
        assert due(conn, "acme", now + timedelta(hours=1)) == []
        assert due(conn, "acme", now + timedelta(hours=25)) == ["followup_24h"]
    followup = recon(warehouse, market, "followup_24h", now + timedelta(hours=25))
    assert followup.drift_share == 0 and followup.expected == 4 + 5 + 2
    with connect(warehouse) as conn:
        assert due(conn, "acme", now + timedelta(days=2)) == ["daily"]
        tokens = [r[0] for r in conn.execute("SELECT event_type FROM audit.events WHERE tenant_id = 'acme'"
                                             " AND event_type LIKE 'marketplace.token_%'")]
        assert tokens.count("marketplace.token_issued") >= 4
        assert conn.execute("SELECT count(*) FROM vault.pseudonyms WHERE tenant_id = 'acme'").fetchone()[0] == 4


def test_daily_reconcile_corrects_a_lost_member_and_flags_an_unknown_one(warehouse: str, market: SandboxSet,
                                                                         tmp_path: Path) -> None:
    seed(warehouse)
    sync_all(warehouse, market, tmp_path)
    admin = market.admin("marketplace")
    assert HTTP.delete(f"{admin}/tenants/acme/members/E003").status_code < 300
    other = client(market, "members").put_member({"member_id": "X999", "email": "x@acme.example"}, "made-elsewhere")
    assert other.accepted, "a member someone else made in the marketplace"
    day = datetime.now(UTC)
    run = recon(warehouse, market, "initial", day)
    assert run.missing >= 1 and run.unexpected >= 1 and run.corrected == 1 and run.flagged >= 1
    assert run.drift_share > 0.01
    with connect(warehouse) as conn:
        letters = conn.execute("SELECT entity_key, reason FROM audit.dead_letters WHERE tenant_id = 'acme'"
                               " AND source = 'marketplace'").fetchall()
        assert ("members:X999", "recon_unexpected_members") in letters
        review = conn.execute("SELECT open_letters, examples FROM recon.marketplace_review WHERE tenant_id = 'acme'"
                              " AND reason = 'recon_unexpected_members'").fetchone()
        assert review == (1, ["members:X999"]), "the product owners' view lists the flagged case"
        verdict = window_gate(conn, "acme", day.date())
    assert not verdict.passed and "drift" in verdict.breaches[0]
    assert "E003" in {m["member_id"] for m in state(market)["members"] if not m.get("deleted")}


def test_under_faults_every_event_lands_once_or_is_dead_lettered(warehouse: str, market: SandboxSet,
                                                                  tmp_path: Path) -> None:
    seed(warehouse, workers=3)
    sync_all(warehouse, market, tmp_path)
    with connect(warehouse) as conn:
        for n in range(30):
            add_completion(conn, "acme", f"E{n % 3:03d}", f"COURSE-{n:02d}", T0 + timedelta(days=2, minutes=n), 75)
        conn.execute("INSERT INTO core.marketplace_events (tenant_id, event_id, event_type, member_id, item_key, body)"
                     " VALUES ('acme', %s, 'badge_awarded', 'NOBODY', 'b1', %s)",
                     (str(uuid.uuid4()), json.dumps({"event_id": "x", "type": "badge_awarded", "member_id": "NOBODY",
                                                     "occurred_at": "2026-03-01T00:00:00Z", "data": {}})))
        conn.commit()
    admin = market.admin("marketplace")
    assert HTTP.post(f"{admin}/faults", json={"error_rate": 0.2, "lost_response_rate": 0.15, "reset_rate": 0.1,
                                               "burst_429": {"every": 7, "length": 2, "retry_after": 0},
                                               "paths": ["/v1/events", "/v1/members"], "seed": 7}).status_code == 200
    for _ in range(20):
        try:
            result = events(warehouse, market)
        except EventsIncomplete:
            continue
        if result.remaining == 0:
            break
    HTTP.delete(f"{admin}/faults")
    with connect(warehouse) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM core.marketplace_events WHERE tenant_id = 'acme'"
                                   " AND outcome IS DISTINCT FROM 'bulk' GROUP BY state").fetchall())
        dead = conn.execute("SELECT reason FROM audit.dead_letters WHERE tenant_id = 'acme' AND source = 'marketplace'"
                            " AND entity_key LIKE 'event:%%'").fetchall()
    assert states == {"acknowledged": 30, "dead": 1}
    with connect(warehouse) as conn:
        resent = conn.execute("SELECT count(*) FROM core.marketplace_events WHERE tenant_id = 'acme'"
                              " AND (outcome = 'duplicate' OR attempts > 1)").fetchone()[0]
    assert resent > 0, "the faults never made a resend: the test proves nothing"
    assert dead and dead[0][0].startswith("marketplace_")
    applied = Counter((e["member_id"], e["data"].get("course_id")) for e in state(market)["events"]
                      if e["tenant"] == "acme" and e["type"] == "learning_completed")
    assert len(applied) == 30 and set(applied.values()) == {1}, "an event was applied twice or lost"
    day = datetime.now(UTC)
    recon(warehouse, market, "initial", day)
    with connect(warehouse) as conn:
        delivery = conn.execute("SELECT delivery_success FROM recon.marketplace_daily WHERE tenant_id = 'acme'"
                                " AND day = %s", (day.date(),)).fetchone()[0]
    assert float(delivery) == pytest.approx(30 / 31, rel=1e-4)


def test_a_worker_the_mapping_refuses_is_quarantined_and_the_rest_go(warehouse: str, market: SandboxSet,
                                                                      tmp_path: Path) -> None:
    seed(warehouse, workers=2)
    with connect(warehouse) as conn:
        conn.execute("UPDATE core.workers SET work_email = 'not an email' WHERE tenant_id = 'acme'"
                     " AND employee_id = 'E000'")
        conn.commit()
    result = sync_all(warehouse, market, tmp_path)
    assert (result.members, result.quarantined, result.accepted) == (1, 1, 1)
    with connect(warehouse) as conn:
        row = conn.execute("SELECT record_key, rule, reason FROM audit.quarantine q JOIN audit.batches b"
                           " USING (batch_id) WHERE b.tenant_id = 'acme' AND b.stream = 'marketplace_member'"
                           ).fetchone()
    assert row[:2] == ("E000", "email_format") and "marketplace_member_v1.csv" in row[2]


def test_seven_simulated_days_pass_the_gate(warehouse: str) -> None:
    from credsync.marketplace.reconcile import record_day

    today = date(2026, 3, 10)
    with connect(warehouse) as conn:
        for n in range(7):
            record_day(conn, "acme", today - timedelta(days=n), 0.004)
        conn.commit()
        verdict = window_gate(conn, "acme", today)
        assert (verdict.days, verdict.passed) == (7, True)
        record_day(conn, "acme", today - timedelta(days=3), 0.02)
        assert not window_gate(conn, "acme", today).passed
        assert window_gate(conn, "acme", today + timedelta(days=4)).passed, "the bad day left the window"


def test_lost_answers_to_the_bulk_import_make_one_import(warehouse: str, market: SandboxSet, tmp_path: Path) -> None:
    seed(warehouse, workers=3)
    admin = market.admin("marketplace")
    assert HTTP.post(f"{admin}/faults", json={"lost_response_rate": 0.6, "error_rate": 0.2, "reset_rate": 0.1,
                                               "paths": ["/v1/bulk/imports"], "methods": ["POST"],
                                               "seed": 3}).status_code == 200
    result = sync_all(warehouse, market, tmp_path)
    HTTP.delete(f"{admin}/faults")
    assert (result.status, result.accepted) == ("completed", 3)
    assert len([i for i in state(market)["imports"] if i["tenant"] == "acme"]) == 1
    assert len({m["member_id"] for m in state(market)["members"] if m["tenant"] == "acme"}) == 3


def test_tokens_rotate_by_refresh_and_are_revoked_and_audited(warehouse: str, market: SandboxSet,
                                                              tmp_path: Path) -> None:
    import time

    from credsync.marketplace.ledger import audit_tokens

    seed(warehouse, workers=2)
    sync_all(warehouse, market, tmp_path)
    admin = market.admin("marketplace")
    assert HTTP.post(f"{admin}/token-ttl", json={"seconds": 1}).status_code == 200
    try:
        reader = client(market, "reconcile")
        assert len(list(reader.members())) == 2
        time.sleep(1.2)  # the access token expired: the refresh token gets the next one
        assert len(list(reader.members())) == 2
        assert reader.revoke_tokens() == 2
    finally:
        HTTP.post(f"{admin}/token-ttl", json={"seconds": 300})
    with connect(warehouse) as conn:
        audit_tokens(conn, "acme", "reconcile", reader)
        conn.commit()
        kinds = [r[0] for r in conn.execute("SELECT event_type FROM audit.events WHERE tenant_id = 'acme'"
                                            " AND detail->>'flow' = 'reconcile' ORDER BY event_id")]
    assert kinds == ["marketplace.token_issued", "marketplace.token_refreshed", "marketplace.token_revoked",
                     "marketplace.token_revoked"]
    actions = [a["action"] for a in state(market)["token_audit"] if a["client_id"] == "mkt-acme"]
    assert "refreshed" in " ".join(actions) or "refresh" in " ".join(actions)
    assert sum("revoke" in a for a in actions) >= 2
    scopes = {t["scopes"] for t in state(market)["tokens"] if t["client_id"] == "mkt-acme"}
    assert "admin:bulk" in scopes and "read:activity:aggregate read:members" in scopes, "one scope set per flow"


def test_a_refused_event_is_dead_lettered_and_replays_once_fixed(warehouse: str, market: SandboxSet,
                                                                 tmp_path: Path) -> None:
    from credsync.delivery.marketplace_replay import replay_marketplace_letters

    seed(warehouse, workers=2)
    sync_all(warehouse, market, tmp_path)
    body = {"event_id": str(uuid.uuid4()), "type": "badge_awarded", "member_id": "LATE1",
            "occurred_at": "2026-03-01T00:00:00Z",
            "data": {"badge_id": "b-1", "name": "CPR & AED", "issued_at": "2026-03-01T00:00:00Z",
                     "issuer": "credsync-training", "credential_url": "https://credentials.acme.example/credentials/b-1"}}
    with connect(warehouse) as conn:
        conn.execute("INSERT INTO core.marketplace_events (tenant_id, event_id, event_type, member_id, item_key, body)"
                     " VALUES ('acme', %s, 'badge_awarded', 'LATE1', 'b-1', %s)", (body["event_id"], json.dumps(body)))
        conn.commit()
    assert events(warehouse, market).dead == 1
    with connect(warehouse) as conn:
        [(key, reason)] = conn.execute("SELECT entity_key, reason FROM audit.dead_letters WHERE tenant_id = 'acme'"
                                       " AND source = 'marketplace' AND status = 'open'").fetchall()
    assert (key, reason) == (f"event:{body['event_id']}", "marketplace_not_found")
    args = (warehouse, "acme", profile_of("acme"), client(market, "events"), client(market, "members"))
    listed = replay_marketplace_letters(*args, pseudonym_key=KEY)
    assert listed.selected == 1 and listed.would_replay
    assert client(market, "members").put_member({"member_id": "LATE1", "email": "late1@acme.example"}, "late1").accepted
    replayed = replay_marketplace_letters(*args, dry_run=False, pseudonym_key=KEY)
    assert (replayed.replayed, replayed.still_failing) == (1, 0)
    with connect(warehouse) as conn:
        assert conn.execute("SELECT state FROM core.marketplace_events WHERE event_id = %s",
                            (body["event_id"],)).fetchone()[0] == "acknowledged"
        assert conn.execute("SELECT status FROM audit.dead_letters WHERE entity_key = %s",
                            (key,)).fetchone()[0] != "open"
    assert [b["badge_id"] for b in state(market)["badges"] if b["member_id"] == "LATE1"] == ["b-1"]


def test_the_replay_window_and_a_wrong_signing_secret(warehouse: str, market: SandboxSet, tmp_path: Path) -> None:
    import time

    seed(warehouse, workers=1)
    sync_all(warehouse, market, tmp_path)
    signer = client(market, "events")
    stamps = iter([time.time() - 1000])  # signed long ago (a call that waited): stale, then signed again now
    signer.clock = lambda: next(stamps, time.time())
    event = {"event_id": str(uuid.uuid4()), "type": "learning_completed", "member_id": "E000",
             "occurred_at": "2026-03-05T00:00:00Z",
             "data": {"course_id": "SAFETY-100", "completed": True, "completed_at": "2026-03-05T00:00:00Z",
                      "score": None, "grading_scale": None}}
    assert signer.post_event(event).status == 202
    outcomes = [r["outcome"] for r in state(market)["event_receipts"] if r["event_id"] == event["event_id"]]
    assert outcomes[0] == "replayed" and outcomes[-1] == "accepted", "refused as stale, then accepted signed anew"

    with connect(warehouse) as conn:
        add_completion(conn, "acme", "E000", "FIRSTAID-110", T0 + timedelta(days=3), 70)
        conn.commit()
    entry = json.loads(market.env["SANDBOX_MARKETPLACE_CLIENTS"])[marketplace_client_id("acme")]
    forged = MarketplaceClient.for_url(market.url("marketplace"), marketplace_client_id("acme"), entry["secret"],
                                       scope=FLOW_SCOPES["events"], signing_secret="not-the-secret", policy=FAST)
    from credsync.hooks.transport import AccessDenied

    with pytest.raises(AccessDenied, match="invalid_signature"):
        push_events(warehouse, "acme", profile_of("acme"), forged, client(market, "members"), pseudonym_key=KEY)
    with connect(warehouse) as conn:
        letters = conn.execute("SELECT count(*) FROM audit.dead_letters WHERE tenant_id = 'acme'"
                               " AND source = 'marketplace'").fetchone()[0]
        open_events = conn.execute("SELECT state FROM core.marketplace_events WHERE tenant_id = 'acme'"
                                   " AND state <> 'acknowledged'").fetchall()
    assert letters == 0, "a wrong secret is no event's fault: nothing dead-lettered"
    assert open_events == [("sent",)]
    assert events(warehouse, market).acknowledged == 1, "the run after the fix sends it"
