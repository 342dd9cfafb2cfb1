"""The talent marketplace sandbox over real HTTP, started by the launcher as `python -m sandbox up` starts it."""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.launcher import SandboxSet, generate_secrets, marketplace_client_id, start_all
from sandbox.marketplace.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, signature_matches

# A dropped connection reaches the client as EOF or, when the server closed with request bytes
# unread (the kernel then sends a reset), as ECONNRESET: both are "no answer".
NO_ANSWER = (httpx.RemoteProtocolError, httpx.ReadError)

TENANTS = ["acme", "globex"]
HTTP = httpx.Client(timeout=10)


@contextmanager
def running_marketplace(data_dir: Path, **env: str) -> Iterator[SandboxSet]:
    secrets = generate_secrets(TENANTS)
    with start_all(data_dir, env={**secrets, **env}, names=["marketplace"]) as running:
        yield running


@pytest.fixture(scope="module")
def marketplace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxSet]:
    """The sandbox with a generous rate limit and 300 s tokens."""
    with running_marketplace(tmp_path_factory.mktemp("marketplace"), SANDBOX_MARKETPLACE_RATE="500",
                             SANDBOX_MARKETPLACE_BURST="1000") as running:
        yield running


@pytest.fixture(scope="module", autouse=True)
def _close_http_client() -> Iterator[None]:
    yield
    HTTP.close()


class Tenant:
    """One tenant's OAuth client against a running marketplace."""

    def __init__(self, running: SandboxSet, tenant: str = "acme") -> None:
        self.url = running.url("marketplace")
        self.admin = running.admin("marketplace")
        self.client_id = marketplace_client_id(tenant)
        entry = json.loads(running.env["SANDBOX_MARKETPLACE_CLIENTS"])[self.client_id]
        self.secret, self.signing_secret = entry["secret"], entry["signing_secret"]
        self.webhook_secret = json.loads(running.env["SANDBOX_MARKETPLACE_WEBHOOK_SECRETS"])[tenant]
        self.tenant = tenant

    def basic(self) -> dict[str, str]:
        raw = base64.b64encode(f"{self.client_id}:{self.secret}".encode()).decode()
        return {"Authorization": f"Basic {raw}"}

    def token_response(self, **form: str) -> httpx.Response:
        return HTTP.post(f"{self.url}/oauth/token", data=form, headers=self.basic())

    def tokens(self, scope: str | None = None) -> dict[str, Any]:
        form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        response = self.token_response(**form)
        assert response.status_code == 200, response.text
        return response.json()

    def bearer(self, scope: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens(scope)['access_token']}"}

    def put_member(self, profile: dict[str, Any], headers: dict[str, str], key: str | None = None) -> httpx.Response:
        return HTTP.put(f"{self.url}/v1/members/{profile['member_id']}", json=profile,
                        headers={**headers, "Idempotency-Key": key or uuid.uuid4().hex})

    def post_event(self, event: dict[str, Any], headers: dict[str, str], *, timestamp: int | None = None,
                   secret: str | None = None, signature: str | None = None,
                   body: bytes | None = None) -> httpx.Response:
        raw = body if body is not None else json.dumps(event).encode()
        ts = int(time.time()) if timestamp is None else timestamp
        return HTTP.post(f"{self.url}/v1/events", content=raw, headers={
            **headers, "Content-Type": "application/json", "Idempotency-Key": event["event_id"],
            TIMESTAMP_HEADER: str(ts), SIGNATURE_HEADER: signature or sign(secret or self.signing_secret, ts, raw)})

    def state(self) -> dict[str, Any]:
        return HTTP.get(f"{self.admin}/state").json()


def profile(member_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    member_id = member_id or f"E-{uuid.uuid4().hex[:8]}"
    return {
        "member_id": member_id,
        "email": f"{member_id.lower()}@acme.example",
        "learning_completed": [{"course_id": "FORK-101", "completed": True, "completed_at": "2026-03-01T10:00:00Z"}],
        "score": [{"course_id": "FORK-101", "score": 92.5, "grading_scale": "0-100"}],
        "badge_awarded": [{"badge_id": "B-1", "name": "Forklift operator", "issued_at": "2026-03-02T00:00:00Z",
                           "issuer": "did:web:acme.example", "credential_url": "https://acme.example/c/1"}],
        "enrollment_state": [{"course_id": "FORK-101", "state": "completed"}],
        "certificate_ref": [{"certificate_id": "C-1", "url": "https://acme.example/cert/1",
                             "retain_until": "2031-03-01"}],
        **overrides,
    }


def learning_event(member_id: str, course_id: str = "SAFE-200", **data: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "type": "learning_completed", "member_id": member_id,
            "occurred_at": "2026-04-01T09:00:00Z",
            "data": {"course_id": course_id, "completed": True, "completed_at": "2026-04-01T09:00:00Z",
                     "score": 80, "grading_scale": "0-100", **data}}


def badge_event(member_id: str) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "type": "badge_awarded", "member_id": member_id,
            "occurred_at": "2026-04-02T09:00:00Z",
            "data": {"badge_id": "B-9", "name": "First aid", "issued_at": "2026-04-02T09:00:00Z",
                     "issuer": "did:web:acme.example", "credential_url": "https://acme.example/c/9"}}


def read_all(tenant: Tenant, path: str, headers: dict[str, str], limit: int, **params: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = HTTP.get(f"{tenant.url}{path}", headers=headers,
                            params={"limit": limit, **params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items


@contextmanager
def faults(tenant: Tenant, switches: dict[str, Any]) -> Iterator[None]:
    assert HTTP.post(f"{tenant.admin}/faults", json=switches).status_code == 200
    try:
        yield
    finally:
        assert HTTP.delete(f"{tenant.admin}/faults").status_code == 200


def wait_for(predicate: Any, timeout: float = 10) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


# -- OAuth ------------------------------------------------------------------------------------


def test_token_carries_the_requested_scopes_and_a_refresh_token(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    issued = acme.tokens("read:members write:members")
    assert issued["token_type"] == "Bearer" and issued["expires_in"] == 300
    assert issued["scope"] == "read:members write:members" and issued["refresh_token"]
    everything = acme.tokens()
    assert set(everything["scope"].split()) == {"read:members", "write:members", "read:activity:aggregate",
                                                "write:learning", "write:badge", "admin:bulk"}


def test_a_scope_not_granted_is_invalid_scope(marketplace: SandboxSet, tmp_path: Path) -> None:
    acme = Tenant(marketplace)
    assert HTTP.post(f"{acme.admin}/clients", json={"client_id": "mkt-reader", "secret": "reader-secret",
                                                    "signing_secret": "s", "tenant": "acme",
                                                    "scopes": ["read:members"]}).status_code == 200
    raw = base64.b64encode(b"mkt-reader:reader-secret").decode()
    refused = HTTP.post(f"{acme.url}/oauth/token", data={"grant_type": "client_credentials",
                                                         "scope": "read:members admin:bulk"},
                        headers={"Authorization": f"Basic {raw}"})
    assert refused.status_code == 400
    assert refused.headers["content-type"].startswith("application/problem+json")
    body = refused.json()
    assert body["code"] == body["error"] == "invalid_scope"
    assert body["type"] == "https://marketplace.example/problems/invalid_scope"
    wrong_secret = HTTP.post(f"{acme.url}/oauth/token", data={"grant_type": "client_credentials"},
                             headers={"Authorization": "Basic " + base64.b64encode(b"mkt-acme:nope").decode()})
    assert wrong_secret.status_code == 401 and wrong_secret.json()["code"] == "invalid_client"


def test_refresh_rotates_and_a_spent_refresh_token_revokes_the_family(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    first = acme.tokens("read:members")
    second = acme.token_response(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"] and rotated["scope"] == "read:members"
    members = f"{acme.url}/v1/members"
    assert HTTP.get(members, headers={"Authorization": f"Bearer {rotated['access_token']}"}).status_code == 200

    reused = acme.token_response(grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400 and reused.json()["code"] == "invalid_grant"
    # Reuse means theft: every token of the family is dead, the newest included.
    for access in (first["access_token"], rotated["access_token"]):
        dead = HTTP.get(members, headers={"Authorization": f"Bearer {access}"})
        assert dead.status_code == 401 and dead.json()["code"] == "invalid_token"
    newest = acme.token_response(grant_type="refresh_token", refresh_token=rotated["refresh_token"])
    assert newest.status_code == 400 and newest.json()["code"] == "invalid_grant"
    audit = [entry for entry in acme.state()["token_audit"] if entry["family_id"] is not None]
    assert "reuse_detected" in [entry["action"] for entry in audit]
    assert not any(first["refresh_token"] in json.dumps(entry) for entry in acme.state()["token_audit"])

    widened = acme.token_response(grant_type="refresh_token",
                                  refresh_token=acme.tokens("read:members")["refresh_token"], scope="admin:bulk")
    assert widened.status_code == 400 and widened.json()["code"] == "invalid_scope"


def test_revoke_answers_200_and_kills_the_token(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    issued = acme.tokens("read:members")
    revoked = HTTP.post(f"{acme.url}/oauth/revoke", data={"token": issued["access_token"]}, headers=acme.basic())
    assert revoked.status_code == 200
    assert HTTP.post(f"{acme.url}/oauth/revoke", data={"token": "never-issued"},
                     headers=acme.basic()).status_code == 200
    after = HTTP.get(f"{acme.url}/v1/members", headers={"Authorization": f"Bearer {issued['access_token']}"})
    assert after.status_code == 401 and after.json()["code"] == "invalid_token"
    # Revoking the refresh token ends the grant: it cannot be refreshed any more.
    other = acme.tokens("read:members")
    HTTP.post(f"{acme.url}/oauth/revoke", data={"token": other["refresh_token"]}, headers=acme.basic())
    assert acme.token_response(grant_type="refresh_token",
                               refresh_token=other["refresh_token"]).json()["code"] == "invalid_grant"
    assert HTTP.get(f"{acme.url}/v1/members",
                    headers={"Authorization": f"Bearer {other['access_token']}"}).status_code == 401
    assert "revoked" in [entry["action"] for entry in acme.state()["token_audit"]]


def test_an_expired_token_is_401_and_refresh_recovers(tmp_path: Path) -> None:
    with running_marketplace(tmp_path) as running:
        acme = Tenant(running)
        issued = acme.tokens("read:members")
        assert HTTP.post(f"{acme.admin}/token-ttl", json={"seconds": 1}).status_code == 200
        time.sleep(1.2)
        expired = HTTP.get(f"{acme.url}/v1/members", headers={"Authorization": f"Bearer {issued['access_token']}"})
        assert expired.status_code == 401 and expired.json()["code"] == "invalid_token"
        assert 'error="invalid_token"' in expired.headers["www-authenticate"]
        fresh = acme.token_response(grant_type="refresh_token", refresh_token=issued["refresh_token"]).json()
        assert fresh["expires_in"] == 1
        assert HTTP.get(f"{acme.url}/v1/members",
                        headers={"Authorization": f"Bearer {fresh['access_token']}"}).status_code == 200


def test_a_token_without_the_endpoint_scope_is_403_naming_it(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    refused = acme.put_member(profile(), acme.bearer("read:members"))
    assert refused.status_code == 403 and refused.json()["code"] == "insufficient_scope"
    assert 'scope="write:members"' in refused.headers["www-authenticate"]
    member = profile()
    assert acme.put_member(member, acme.bearer("write:members")).status_code == 201
    badge_only = acme.post_event(learning_event(member["member_id"]), acme.bearer("write:badge"))
    assert badge_only.status_code == 403 and 'scope="write:learning"' in badge_only.headers["www-authenticate"]


# -- members, idempotency, pagination -----------------------------------------------------------


def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    headers = acme.bearer("write:members")
    member = profile()
    first = acme.put_member(member, headers, key="k-" + member["member_id"])
    again = acme.put_member(member, headers, key="k-" + member["member_id"])
    assert first.status_code == again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    conflict = acme.put_member({**member, "email": "other@acme.example"}, headers, key="k-" + member["member_id"])
    assert conflict.status_code == 422 and conflict.json()["code"] == "idempotency_conflict"
    updated = acme.put_member({**member, "email": "other@acme.example"}, headers)
    assert updated.status_code == 200 and updated.json()["email"] == "other@acme.example"
    missing = HTTP.put(f"{acme.url}/v1/members/{member['member_id']}", json=member, headers=headers)
    assert missing.status_code == 400 and missing.json()["code"] == "idempotency_key_required"


def test_a_profile_off_the_mapping_is_422_validation_failed(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    headers = acme.bearer("write:members")
    for bad in (profile(email="Ada+news@Acme.example"), profile(score=[{"course_id": "X", "score": 120}]),
                profile(certificate_ref=[{"certificate_id": "C", "url": "http://insecure.example/c"}]),
                profile(enrollment_state=[{"course_id": "X", "state": "paused"}])):
        refused = acme.put_member(bad, headers)
        assert refused.status_code == 422, bad
        assert refused.json()["code"] == "validation_failed" and refused.json()["errors"]


def test_cursor_pages_are_complete_and_stable_under_concurrent_writes(marketplace: SandboxSet) -> None:
    globex = Tenant(marketplace, "globex")
    writer, reader = globex.bearer("write:members"), globex.bearer("read:members read:activity:aggregate")
    ids = [f"G-{n:03d}" for n in range(25)]
    for member_id in ids:
        assert globex.put_member(profile(member_id, email=f"{member_id.lower()}@globex.example"),
                                 writer).status_code in (200, 201)
    seen, cursor, pages = [], None, 0
    while True:
        page = HTTP.get(f"{globex.url}/v1/members", headers=reader,
                        params={"limit": 7, **({"cursor": cursor} if cursor else {})}).json()
        seen += [item["member_id"] for item in page["data"]]
        pages += 1
        if pages == 2:  # writes between pages: a new member sorting first and an update of a listed one
            globex.put_member(profile("G-000A", email="g-000a@globex.example"), writer)
            globex.put_member(profile("G-001", email="changed@globex.example"), writer)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids, "a page moved under a concurrent write"
    assert "G-000A" in [m["member_id"] for m in read_all(globex, "/v1/members", reader, 50)]
    # Tenants never see each other's members.
    acme_ids = {m["member_id"] for m in read_all(Tenant(marketplace), "/v1/members",
                                                 Tenant(marketplace).bearer("read:members"), 100)}
    assert not acme_ids & set(ids)

    records = read_all(globex, "/v1/learning-records", reader, 4)
    assert len({r["record_id"] for r in records}) == len(records) == 26
    assert all(r["completed"] and r["course_id"] == "FORK-101" for r in records)
    since = max(r["updated_at"] for r in records)
    assert read_all(globex, "/v1/learning-records", reader, 4, updated_since=since)  # the newest, inclusive
    badges = read_all(globex, "/v1/badges", reader, 10)
    assert len(badges) == 26 and {b["badge_id"] for b in badges} == {"B-1"}
    bad = HTTP.get(f"{globex.url}/v1/members", headers=reader, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"
    # Opaque means opaque: a cursor edited to skip ahead is refused, not followed.
    issued = HTTP.get(f"{globex.url}/v1/members", headers=reader, params={"limit": 2}).json()["next_cursor"]
    payload, mac = issued.rsplit(".", 1)
    state = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**state, "l": "G-020"}).encode()).decode().rstrip("=")
    edited = HTTP.get(f"{globex.url}/v1/members", headers=reader, params={"cursor": f"{forged}.{mac}"})
    assert edited.status_code == 400 and edited.json()["code"] == "invalid_cursor"


def test_429_carries_retry_after(tmp_path: Path) -> None:
    with running_marketplace(tmp_path, SANDBOX_MARKETPLACE_RATE="1", SANDBOX_MARKETPLACE_BURST="3") as running:
        acme = Tenant(running)
        headers = acme.bearer("read:members")
        statuses = [HTTP.get(f"{acme.url}/v1/members", headers=headers) for _ in range(5)]
        limited = [r for r in statuses if r.status_code == 429]
        assert [r.status_code for r in statuses[:3]] == [200, 200, 200] and limited
        assert int(limited[0].headers["retry-after"]) >= 1 and limited[0].json()["code"] == "rate_limited"
        time.sleep(int(limited[0].headers["retry-after"]))
        assert HTTP.get(f"{acme.url}/v1/members", headers=headers).status_code == 200


# -- signed events ------------------------------------------------------------------------------


def test_signed_events_accepted_duplicates_and_refusals(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    member = profile()
    acme.put_member(member, acme.bearer("write:members"))
    headers = acme.bearer("write:learning write:badge")
    event = learning_event(member["member_id"])
    accepted = acme.post_event(event, headers)
    assert accepted.status_code == 202 and accepted.json() == {"status": "accepted"}
    # A resend (re-signed later, as a retry would be) is a duplicate and changes nothing.
    duplicate = acme.post_event(event, headers, timestamp=int(time.time()) + 1)
    assert duplicate.status_code == 200 and duplicate.json() == {"status": "duplicate"}
    assert acme.post_event(badge_event(member["member_id"]), headers).status_code == 202

    forged = acme.post_event(learning_event(member["member_id"]), headers, secret="not-the-signing-secret")
    assert forged.status_code == 401 and forged.json()["code"] == "invalid_signature"
    stale = acme.post_event(learning_event(member["member_id"]), headers, timestamp=int(time.time()) - 301)
    assert stale.status_code == 401 and stale.json()["code"] == "replayed"
    future = acme.post_event(learning_event(member["member_id"]), headers, timestamp=int(time.time()) + 400)
    assert future.status_code == 401 and future.json()["code"] == "replayed"

    # Captured headers of an accepted event, resent with another event's body: a replay.
    ts = int(time.time())
    original = learning_event(member["member_id"], "REPLAY-1")
    raw = json.dumps(original).encode()
    captured = sign(acme.signing_secret, ts, raw)
    assert acme.post_event(original, headers, timestamp=ts, body=raw, signature=captured).status_code == 202
    other = learning_event(member["member_id"], "REPLAY-2")
    replayed = acme.post_event(other, headers, timestamp=ts, signature=captured)
    assert replayed.status_code == 401 and replayed.json()["code"] == "replayed"

    unknown = acme.post_event(learning_event("NOBODY"), headers)
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    records = read_all(acme, "/v1/learning-records", acme.bearer("read:activity:aggregate"), 100)
    mine = {r["course_id"]: r for r in records if r["member_id"] == member["member_id"]}
    assert mine["SAFE-200"]["completed"] and mine["SAFE-200"]["score"] == 80
    assert {b["badge_id"] for b in read_all(acme, "/v1/badges", acme.bearer("read:activity:aggregate"), 100)
            if b["member_id"] == member["member_id"]} == {"B-1", "B-9"}
    stored = [e for e in acme.state()["events"] if e["event_id"] == event["event_id"]]
    assert len(stored) == 1


# -- bulk import ----------------------------------------------------------------------------------


def upload(tenant: Tenant, body: bytes, content_type: str, *, gzip_encoded: bool = False,
           checksum: str | None = None, key: str | None = None) -> httpx.Response:
    headers = {**tenant.bearer("admin:bulk"), "Content-Type": content_type,
               "X-Checksum-SHA256": checksum or hashlib.sha256(body).hexdigest(),
               "Idempotency-Key": key or uuid.uuid4().hex}
    if gzip_encoded:
        headers["Content-Encoding"] = "gzip"
    return HTTP.post(f"{tenant.url}/v1/bulk/imports", content=body, headers=headers)


def finished(tenant: Tenant, import_id: str) -> dict[str, Any]:
    headers = tenant.bearer("admin:bulk")

    def status() -> dict[str, Any] | None:
        body = HTTP.get(f"{tenant.url}/v1/bulk/imports/{import_id}", headers=headers).json()
        return body if body["status"] != "processing" else None

    return wait_for(status)


def test_bulk_ndjson_gzip_and_plain_with_per_line_errors(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    good = [profile() for _ in range(3)]
    lines = [json.dumps(m) for m in good] + ["{not json", json.dumps(profile(email="UPPER@acme.example")),
                                             "", json.dumps(good[0])]
    raw = ("\n".join(lines) + "\n").encode()
    compressed = gzip.compress(raw)
    accepted = upload(acme, compressed, "application/x-ndjson", gzip_encoded=True)
    assert accepted.status_code == 202 and accepted.json()["status"] == "processing"
    import_id = accepted.json()["import_id"]
    # Eventual: right after the upload the result is not visible yet.
    assert HTTP.get(f"{acme.url}/v1/bulk/imports/{import_id}",
                    headers=acme.bearer("admin:bulk")).json()["status"] == "processing"
    result = finished(acme, import_id)
    assert result["status"] == "completed" and result["accepted"] == 3 and result["rejected"] == 3
    assert [(e["line"], e["code"]) for e in result["errors"]] == [
        (4, "malformed_line"), (5, "validation_failed"), (7, "duplicate_member")]
    assert result["errors"][2]["member_id"] == good[0]["member_id"]
    held = {m["member_id"] for m in read_all(acme, "/v1/members", acme.bearer("read:members"), 100)}
    assert {m["member_id"] for m in good} <= held

    plain = upload(acme, json.dumps(profile()).encode(), "application/x-ndjson")
    assert finished(acme, plain.json()["import_id"])["accepted"] == 1
    replay_key = "bulk-" + uuid.uuid4().hex
    first, again = (upload(acme, compressed, "application/x-ndjson", gzip_encoded=True, key=replay_key)
                    for _ in range(2))
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    conflict = upload(acme, raw, "application/x-ndjson", key=replay_key)
    assert conflict.status_code == 422 and conflict.json()["code"] == "idempotency_conflict"


def test_bulk_csv_and_checksum_mismatch_and_unreadable_files(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["member_id", "email", "learning_completed", "score", "badge_awarded", "enrollment_state",
                     "certificate_ref"])
    member = profile()
    writer.writerow([member["member_id"], member["email"], json.dumps(member["learning_completed"]),
                     json.dumps(member["score"]), "", json.dumps(member["enrollment_state"]), ""])
    writer.writerow(["C-2", "c-2@acme.example", "[broken", "", "", "", ""])
    body = out.getvalue().encode()
    result = finished(acme, upload(acme, body, "text/csv").json()["import_id"])
    assert (result["accepted"], result["rejected"]) == (1, 1)
    assert result["errors"][0]["line"] == 3 and result["errors"][0]["member_id"] == "C-2"

    mismatch = upload(acme, body, "text/csv", checksum=hashlib.sha256(b"other").hexdigest())
    assert mismatch.status_code == 400 and mismatch.json()["code"] == "checksum_mismatch"
    # The checksum covers the bytes as sent: the uncompressed text's hash does not match a gzip upload.
    zipped = gzip.compress(body)
    wrong_layer = upload(acme, zipped, "text/csv", gzip_encoded=True, checksum=hashlib.sha256(body).hexdigest())
    assert wrong_layer.json()["code"] == "checksum_mismatch"
    broken = finished(acme, upload(acme, b"\x1f\x8bnot gzip", "application/x-ndjson",
                                   gzip_encoded=True).json()["import_id"])
    assert broken["status"] == "failed" and broken["errors"][0]["code"] == "unreadable_file"
    wrong_type = upload(acme, body, "application/json")
    assert wrong_type.status_code == 415


# -- faults ---------------------------------------------------------------------------------------


def test_faults_5xx_reset_and_lost_response(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    headers = acme.bearer("write:members read:members")
    with faults(acme, {"error_rate": 1, "error_status": 503, "paths": ["/v1/members"]}):
        failed = acme.put_member(profile(), headers)
        assert failed.status_code == 503 and failed.json()["fault"] is True
        assert failed.json()["code"] == "injected_fault"

    dropped_member = profile()
    with faults(acme, {"drop_rate": 1, "methods": ["PUT"]}), pytest.raises(NO_ANSWER):
        acme.put_member(dropped_member, headers)
    assert dropped_member["member_id"] not in {m["member_id"] for m in acme.state()["members"]}

    lost_member, key = profile(), uuid.uuid4().hex
    with faults(acme, {"lost_response_rate": 1, "methods": ["PUT"]}), pytest.raises(NO_ANSWER):
        acme.put_member(lost_member, headers, key=key)
    assert lost_member["member_id"] in {m["member_id"] for m in acme.state()["members"]}, "not applied"
    retried = acme.put_member(lost_member, headers, key=key)
    assert retried.status_code == 201 and retried.headers["idempotent-replayed"] == "true"

    with faults(acme, {"reset_rate": 1, "methods": ["PUT"]}), pytest.raises(NO_ANSWER):
        acme.put_member(profile(), headers)
    with faults(acme, {"burst_429": {"every": 1, "length": 1, "retry_after": 2}}):
        limited = HTTP.get(f"{acme.url}/v1/members", headers=headers)
        assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
        assert limited.json()["code"] == "rate_limited"
        assert limited.json()["type"] == "https://marketplace.example/problems/rate_limited"
    assert HTTP.post(f"{acme.admin}/faults", json={"bogus": 1}).status_code == 400


# -- webhooks -------------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver that fails its first ``failures`` deliveries, then records verified ones."""

    def __init__(self, secret: str, failures: int) -> None:
        self.secret, self.failures = secret, failures
        self.attempts: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                ts = int(self.headers[TIMESTAMP_HEADER])
                verified = signature_matches(receiver.secret, ts, raw, self.headers[SIGNATURE_HEADER])
                receiver.attempts.append({"event": json.loads(raw), "verified": verified})
                failing = len(receiver.attempts) <= receiver.failures
                self.send_response(500 if failing else 204)
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/marketplace/webhooks"


def test_member_changes_are_sent_signed_and_retried(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    receiver = Receiver(acme.webhook_secret, failures=2)
    try:
        assert HTTP.post(f"{acme.admin}/webhooks", json={"url": receiver.url, "tenant": "acme"}).status_code == 200
        member = profile()
        acme.put_member(member, acme.bearer("write:members"))
        changed = HTTP.post(f"{acme.admin}/tenants/acme/members/{member['member_id']}",
                            json={"email": "moved@acme.example"})
        assert changed.status_code == 200
        wait_for(lambda: len(receiver.attempts) >= 3)
        assert HTTP.delete(f"{acme.admin}/tenants/acme/members/{member['member_id']}").status_code == 200
        wait_for(lambda: len(receiver.attempts) >= 4)
    finally:
        receiver.server.shutdown()
    assert all(a["verified"] for a in receiver.attempts)
    updates = [a["event"] for a in receiver.attempts[:3]]
    assert {e["event_id"] for e in updates} == {updates[0]["event_id"]}, "a retry changed the event id"
    assert updates[0]["type"] == "member.updated" and updates[0]["data"]["email"] == "moved@acme.example"
    assert receiver.attempts[3]["event"]["type"] == "member.deleted"
    deliveries = [d for d in acme.state()["webhook_deliveries"] if d["event_id"] == updates[0]["event_id"]]
    assert [(d["attempt"], d["outcome"]) for d in deliveries] == [(1, "failed"), (2, "failed"), (3, "delivered")]
    HTTP.post(f"{acme.admin}/webhooks", json={"url": "http://127.0.0.1:9/unused", "tenant": "acme",
                                               "max_attempts": 1})


def test_dropped_webhooks_are_retried_then_given_up(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    receiver = Receiver(acme.webhook_secret, failures=0)
    member = profile()
    acme.put_member(member, acme.bearer("write:members"))
    try:
        HTTP.post(f"{acme.admin}/webhooks", json={"url": receiver.url, "tenant": "acme", "max_attempts": 2})
        with faults(acme, {"drop_webhooks": True}):
            HTTP.post(f"{acme.admin}/tenants/acme/members/{member['member_id']}", json={"email": "x@acme.example"})

            def given_up() -> list[dict[str, Any]]:
                mine = [d for d in acme.state()["webhook_deliveries"] if d["outcome"] == "dropped"]
                return mine if len(mine) == 2 else []

            dropped = wait_for(given_up)
    finally:
        receiver.server.shutdown()
        HTTP.post(f"{acme.admin}/webhooks", json={"url": "http://127.0.0.1:9/unused", "tenant": "acme",
                                                   "max_attempts": 1})
    assert [d["attempt"] for d in dropped] == [1, 2] and receiver.attempts == []


def test_state_survives_a_restart(tmp_path: Path) -> None:
    env = generate_secrets(TENANTS)
    member, key = profile(), uuid.uuid4().hex
    with start_all(tmp_path, env=env, names=["marketplace"]) as running:
        acme = Tenant(running)
        issued = acme.tokens("write:members read:members")
        headers = {"Authorization": f"Bearer {issued['access_token']}"}
        assert acme.put_member(member, headers, key=key).status_code == 201
    with start_all(tmp_path, env=env, names=["marketplace"]) as running:
        acme = Tenant(running)
        again = acme.put_member(member, headers, key=key)
        assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
        assert [m["member_id"] for m in read_all(acme, "/v1/members", headers, 10)] == [member["member_id"]]
        rotated = acme.token_response(grant_type="refresh_token", refresh_token=issued["refresh_token"])
        assert rotated.status_code == 200


def test_a_lost_event_or_import_answer_is_applied_once_and_replayed(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    member = profile()
    acme.put_member(member, acme.bearer("write:members"))
    headers = acme.bearer("write:learning admin:bulk")
    event = learning_event(member["member_id"], "LOST-1")
    upload_body, upload_key = json.dumps(profile()).encode(), "lost-import-" + event["event_id"]
    with faults(acme, {"lost_response_rate": 1, "paths": ["/v1/events", "/v1/bulk"]}):
        with pytest.raises(NO_ANSWER):
            acme.post_event(event, headers)
        with pytest.raises(NO_ANSWER):
            upload(acme, upload_body, "application/x-ndjson", key=upload_key)
    assert acme.post_event(event, headers).json() == {"status": "duplicate"}
    assert [e["event_id"] for e in acme.state()["events"]].count(event["event_id"]) == 1
    resent = upload(acme, upload_body, "application/x-ndjson", key=upload_key)
    assert resent.status_code == 202 and resent.headers["idempotent-replayed"] == "true"
    receipts = [r["outcome"] for r in acme.state()["event_receipts"] if r["event_id"] == event["event_id"]]
    assert receipts == ["accepted", "duplicate"]


def test_a_record_changed_while_paging_comes_back_in_the_next_delta_read(tmp_path: Path) -> None:
    with running_marketplace(tmp_path) as running:
        acme = Tenant(running)
        writer, reader = acme.bearer("write:members write:learning"), acme.bearer("read:activity:aggregate")
        members = [profile(f"D-{n}") for n in range(6)]
        for member in members:
            acme.put_member(member, writer)
        first = HTTP.get(f"{acme.url}/v1/learning-records", headers=reader, params={"limit": 2}).json()
        # D-0's record (already read) and D-4's (not yet read) change before the next page.
        for member_id in ("D-0", "D-4"):
            assert acme.post_event(learning_event(member_id, "FORK-101", score=55), writer).status_code == 202
        seen = list(first["data"])
        cursor = first["next_cursor"]
        while cursor:
            page = HTTP.get(f"{acme.url}/v1/learning-records", headers=reader,
                            params={"limit": 2, "cursor": cursor}).json()
            seen += page["data"]
            cursor = page["next_cursor"]
        ids = [r["record_id"] for r in seen]
        assert len(ids) == len(set(ids)) and "D-4:FORK-101" not in ids, "a row moved into this pass"
        since = max(r["updated_at"] for r in seen)
        delta = read_all(acme, "/v1/learning-records", reader, 10, updated_since=since)
        changed = {r["record_id"]: r["score"] for r in delta}
        assert changed["D-0:FORK-101"] == changed["D-4:FORK-101"] == 55


def test_concurrent_retries_of_one_write_apply_it_once(marketplace: SandboxSet) -> None:
    acme = Tenant(marketplace)
    headers = acme.bearer("write:members write:learning")
    member, key = profile(), uuid.uuid4().hex
    with ThreadPoolExecutor(max_workers=8) as pool:
        puts = list(pool.map(lambda _: acme.put_member(member, headers, key=key), range(8)))
    assert [r.status_code for r in puts] == [201] * 8
    assert sum(r.headers.get("idempotent-replayed") != "true" for r in puts) == 1
    event = learning_event(member["member_id"], "RACE-1")
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = [r.json()["status"] for r in pool.map(lambda _: acme.post_event(event, headers), range(8))]
    assert sorted(answers) == ["accepted"] + ["duplicate"] * 7
    assert [e["event_id"] for e in acme.state()["events"]].count(event["event_id"]) == 1


def test_expired_refresh_tokens_oversized_uploads_and_unknown_event_types_are_refused(tmp_path: Path) -> None:
    with running_marketplace(tmp_path, SANDBOX_MARKETPLACE_REFRESH_TTL="1",
                             SANDBOX_MARKETPLACE_MAX_UPLOAD_BYTES="1000") as running:
        acme = Tenant(running)
        issued = acme.tokens()
        too_big = upload(acme, b'{"member_id": "X"}\n' * 100, "application/x-ndjson")
        assert too_big.status_code == 413 and too_big.json()["code"] == "payload_too_large"
        member = profile()
        acme.put_member(member, acme.bearer("write:members"))
        odd = {**learning_event(member["member_id"]), "type": "course_enrolled"}
        refused = acme.post_event(odd, acme.bearer("write:learning"))
        assert refused.status_code == 422 and refused.json()["code"] == "validation_failed"
        time.sleep(1.1)
        late = acme.token_response(grant_type="refresh_token", refresh_token=issued["refresh_token"])
        assert late.status_code == 400 and late.json()["code"] == "invalid_grant"
