"""Revocation and suspension lists per issuer, and the flows that change them, as verifiers see them.

Real parts: Postgres (migration 0015's trigger included), the issuance flow, the status change flow
(``update_status``: the recertification DAG's update_credential_status task body), publication through
``ObjectStoragePath`` to a file:// store served over loopback HTTP, and verifiers credsync did not
write (``verifiers/verify.mjs``: jose + @digitalbazaar/vc-bitstring-status-list; openbadgeslib).
"""

from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest

from credsync.credentials import issuer_store, status
from credsync.credentials.issuance import issue_credentials
from credsync.credentials.issuers import Issuer, load_trust_list
from credsync.credentials.rules import load_rules
from credsync.credentials.status_changes import StatusChangeRefused, StatusRequest, check_request, update_status
from credsync.credentials.vc import CredentialClaims, Evidence, sign_credential
from credsync.credentials.verify import Resolver, Verdict, check_signature, verify
from tests.integration.credentials.conftest import add_completion, add_worker, openbadgeslib_verify

AS_OF = date(2025, 6, 1)
NOW = datetime(2025, 6, 2, tzinfo=UTC)


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def issued(conn, tenant: str, key, *employees: str) -> dict[str, str]:
    """employee id -> credential id of a forklift credential issued through the real issuance flow."""
    for employee_id in employees:
        add_worker(conn, tenant, employee_id)
        add_completion(conn, tenant, employee_id, "FORKLIFT-200", "2025-05-01T10:00:00", score=88)
    issue_credentials(conn, tenant_id=tenant, rules=load_rules(), signing_key=key, as_of=AS_OF, run_id="test")
    return dict(conn.execute("SELECT employee_id, credential_id::text FROM core.credentials WHERE tenant_id = %s",
                             (tenant,)).fetchall())


def suspendable_token(conn, issuer: Issuer, credential_id: str) -> tuple[str, list[dict[str, str]]]:
    """The credential signed with its suspension entry (the one OB 3.0 ``credentialStatus`` object), and
    both its entries. Allocation through ``status_entries``, as issuance calls it."""
    with conn.cursor() as cur:
        entries = issuer_store.status_entries(cur, issuer, [credential_id])[credential_id]
    claims = CredentialClaims(
        credential_id=credential_id, tenant_id=issuer.tenant_id, employee_id="E1",
        credential_type="forklift_operator", achievement_name="Forklift operator", issuer_name="credsync-training",
        rule_id="FORKLIFT-OP", rule_version="1", issue_date=date(2025, 5, 1), expiry_date=date(2099, 1, 1),
        evidence=Evidence(["s-1"], 88.0, datetime(2025, 5, 1, tzinfo=UTC), ["FORKLIFT-200"]), status=entries[1],
    )
    return sign_credential(claims, issuer), entries


def node(verifiers: Path, *jwts: str) -> list[dict]:
    done = subprocess.run(["node", "verify.mjs", "-"], cwd=verifiers, input="\n".join(jwts), capture_output=True,
                          text=True, timeout=120)
    assert done.stdout, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def audit(conn, tenant: str) -> list[tuple[str, str, str]]:
    return conn.execute("SELECT event_type, detail->>'reason', detail->>'source' FROM audit.events"
                        " WHERE tenant_id = %s AND event_type IN ('credential.revoked', 'credential.suspended',"
                        " 'credential.unsuspended') ORDER BY event_id", (tenant,)).fetchall()


def test_each_issuer_has_a_revocation_and_a_suspension_list_with_ttl_and_cache_control(conn, web_env, tenant,
                                                                                       key) -> None:
    ids = issued(conn, tenant, key, "E1", "E2")
    issuer = web_env.issuer(tenant, key)
    with conn.cursor() as cur:
        first = issuer_store.status_entries(cur, issuer, sorted(ids.values()))
        again = issuer_store.status_entries(cur, issuer, sorted(ids.values()))
    assert first == again, "an index is allocated once per credential and purpose"
    for entries in first.values():
        assert [e["statusPurpose"] for e in entries] == ["revocation", "suspension"]
        assert entries[0]["statusListCredential"].endswith("/status/revocation-1")
        assert entries[1]["statusListCredential"].endswith("/status/suspension-1")
    rows = conn.execute("SELECT purpose, size FROM core.status_lists WHERE issuer_did = %s ORDER BY purpose",
                        (issuer.did,)).fetchall()
    assert rows == [("revocation", status.LIST_SIZE), ("suspension", status.LIST_SIZE)]
    assert status.LIST_SIZE >= 131_072

    result = update_status(conn, tenant, StatusRequest(), issuer=issuer)
    assert result.published["lists_written"] == 1  # the new, empty suspension list
    for purpose in status.PURPOSES:
        with urllib.request.urlopen(f"{issuer.base}/status/{purpose}-1", timeout=10) as response:  # noqa: S310 (http: loopback origin)
            body, cache_control = response.read().decode(), response.headers["Cache-Control"]
        verdict = Verdict()
        payload = check_signature(body, load_trust_list(tenants=[tenant], base_url=web_env.base_url),
                                  Resolver(), verdict)
        assert payload is not None, verdict.reasons  # the list credential itself verifies
        subject = payload["credentialSubject"]
        assert subject["statusPurpose"] == purpose and subject["ttl"] == status.TTL_MS
        assert cache_control == f"public, max-age={subject['ttl'] // 1000}"
    assert update_status(conn, tenant, StatusRequest(), issuer=issuer).published["lists_written"] == 0


def test_suspend_then_unsuspend_is_seen_by_every_verifier_and_audited(conn, web_env, tenant, key,
                                                                      node_verifier) -> None:
    ids = issued(conn, tenant, key, "E1", "E2")
    issuer = web_env.issuer(tenant, key)
    token, _ = suspendable_token(conn, issuer, ids["E1"])
    trusted = load_trust_list(tenants=[tenant], base_url=web_env.base_url)
    update_status(conn, tenant, StatusRequest(), issuer=issuer)
    assert verify(token, trusted=trusted, now=NOW).valid

    held = update_status(conn, tenant, StatusRequest(suspend=(ids["E1"],), reason="incident 42 under review"),
                         issuer=issuer)
    assert (held.suspended, held.published["lists_written"]) == (1, 1)
    ours = verify(token, trusted=trusted, now=NOW)
    assert ours.reasons == ["suspended by the issuer"] and ours.status == {"suspension": True}
    [seen] = node(node_verifier, token)
    assert (seen["verified"], seen["suspended"], seen["revoked"], seen["checks"]["status"]) \
        == (False, True, None, True), seen
    assert "status 'suspension' is set at index" in openbadgeslib_verify(token)
    rerun = update_status(conn, tenant, StatusRequest(suspend=(ids["E1"],), reason="incident 42 under review"),
                          issuer=issuer)
    assert (rerun.suspended, rerun.published["lists_written"]) == (0, 0), "a rerun changes nothing"

    lifted = update_status(conn, tenant, StatusRequest(unsuspend=(ids["E1"],), reason="incident 42 closed"),
                           issuer=issuer)
    assert (lifted.unsuspended, lifted.published["lists_written"]) == (1, 1)
    assert verify(token, trusted=trusted, now=NOW).valid
    [seen] = node(node_verifier, token)
    assert (seen["verified"], seen["suspended"]) == (True, False), seen
    assert openbadgeslib_verify(token) is None
    assert audit(conn, tenant) == [("credential.suspended", "incident 42 under review", "manual"),
                                   ("credential.unsuspended", "incident 42 closed", "manual")]
    status_row = conn.execute("SELECT status, suspended_at FROM core.credentials WHERE credential_id = %s",
                              (ids["E1"],)).fetchone()
    assert status_row == ("active", None)


def test_revocation_is_final_and_an_attempt_to_undo_it_is_refused(conn, web_env, tenant, key,
                                                                  node_verifier) -> None:
    ids = issued(conn, tenant, key, "E1", "E2")
    issuer = web_env.issuer(tenant, key)
    token = conn.execute("SELECT vc_jwt FROM core.credentials WHERE credential_id = %s", (ids["E1"],)).fetchone()[0]
    trusted = load_trust_list(tenants=[tenant], base_url=web_env.base_url)

    done = update_status(conn, tenant, StatusRequest(revoke=(ids["E1"],), reason="certificate obtained by fraud"),
                         issuer=issuer)
    assert (done.revoked, done.published["lists_written"]) == (1, 1)
    ours = verify(token, trusted=trusted, now=NOW)
    assert ours.reasons == ["revoked by the issuer"] and ours.status == {"revocation": True}
    [seen] = node(node_verifier, token)
    assert (seen["verified"], seen["revoked"]) == (False, True), seen

    for undo in (StatusRequest(unsuspend=(ids["E1"],), reason="mistake"),
                 StatusRequest(suspend=(ids["E1"],), reason="mistake")):
        with pytest.raises(StatusChangeRefused, match=f"credential {ids['E1']} was revoked on .*"
                                                      r"\(certificate obtained by fraud\): revocation is final"):
            update_status(conn, tenant, undo, issuer=issuer)
    with pytest.raises(psycopg.errors.CheckViolation, match="revocation is final and cannot be undone"):
        conn.execute("UPDATE core.credentials SET status = 'active' WHERE credential_id = %s", (ids["E1"],))
    again = update_status(conn, tenant, StatusRequest(revoke=(ids["E1"],), reason="certificate obtained by fraud"),
                          issuer=issuer)
    assert (again.revoked, again.published["lists_written"]) == (0, 0)
    assert not verify(token, trusted=trusted, now=NOW).valid
    assert audit(conn, tenant) == [("credential.revoked", "certificate obtained by fraud", "manual")]


def test_hris_leave_suspends_and_the_return_lifts_only_the_leave_hold(conn, web_env, tenant, key) -> None:
    ids = issued(conn, tenant, key, "E1", "E2")
    issuer = web_env.issuer(tenant, key)
    token, _ = suspendable_token(conn, issuer, ids["E1"])
    suspendable_token(conn, issuer, ids["E2"])
    trusted = load_trust_list(tenants=[tenant], base_url=web_env.base_url)
    conn.execute("UPDATE core.workers SET employment_status = 'leave' WHERE tenant_id = %s", (tenant,))

    on_leave = update_status(conn, tenant, StatusRequest(), issuer=issuer)
    assert (on_leave.leave_suspended, on_leave.suspended_without_entry) == (2, [])
    assert verify(token, trusted=trusted, now=NOW).reasons == ["suspended by the issuer"]
    assert update_status(conn, tenant, StatusRequest(), issuer=issuer).leave_suspended == 0
    # E2's hold becomes a manual one (an investigation): the return from leave does not lift it.
    update_status(conn, tenant, StatusRequest(suspend=(ids["E2"],), reason="investigation"), issuer=issuer)

    conn.execute("UPDATE core.workers SET employment_status = 'active' WHERE tenant_id = %s", (tenant,))
    back = update_status(conn, tenant, StatusRequest(), issuer=issuer)
    assert (back.leave_unsuspended, back.published["lists_written"]) == (1, 1)
    assert verify(token, trusted=trusted, now=NOW).valid
    holds = dict(conn.execute("SELECT employee_id, suspension_source FROM core.credentials WHERE tenant_id = %s",
                              (tenant,)).fetchall())
    assert holds == {"E1": None, "E2": "manual"}
    assert [(e, r) for e, r, _ in audit(conn, tenant)] == [
        ("credential.suspended", "worker on leave (HRIS)"), ("credential.suspended", "worker on leave (HRIS)"),
        ("credential.suspended", "investigation"), ("credential.unsuspended", "worker returned from leave (HRIS)")]


def test_a_request_is_refused_whole_with_a_reason_naming_the_credential(conn, web_env, tenant, key) -> None:
    ids = issued(conn, tenant, key, "E1")
    unknown = str(uuid.uuid4())
    cases = [
        (StatusRequest(revoke=(ids["E1"],)), "needs a reason"),
        (StatusRequest(revoke=(unknown,), reason="x"), f"credential {unknown} does not exist"),
        (StatusRequest(revoke=("E1",), reason="x"), "'E1' is not a credential id"),
        (StatusRequest(revoke=(ids["E1"],), suspend=(ids["E1"],), reason="x"), "asked to revoke and to suspend"),
    ]
    for request, message in cases:
        with pytest.raises(StatusChangeRefused, match=message):
            check_request(conn, request)
    # Refused whole: the good id next to the unknown one was not revoked either.
    with pytest.raises(StatusChangeRefused):
        update_status(conn, tenant, StatusRequest(revoke=(ids["E1"], unknown), reason="x"), publish=False)
    assert conn.execute("SELECT status FROM core.credentials WHERE credential_id = %s", (ids["E1"],)).fetchone() \
        == ("active",)
    assert StatusRequest.from_params({"revoke": f" {ids['E1'].upper()} ", "reason": " r "}) \
        == StatusRequest(revoke=(ids["E1"],), reason="r")


def test_an_issued_credential_carries_only_its_revocation_entry_so_a_hold_is_not_seen_offline(
        conn, web_env, tenant, key, node_verifier) -> None:
    """The documented choice (docs/credentials.md, Status: "Suspension and the OB 3.0 schema"): the official
    schema types ``credentialStatus`` as one object, so issuance signs the revocation entry only. A hold on
    such a credential is recorded, audited, published and counted (``suspended_without_entry``), but an
    offline verifier, ours included, still accepts the credential; a revocation is seen everywhere."""
    ids = issued(conn, tenant, key, "E1")
    issuer = web_env.issuer(tenant, key)
    [token] = conn.execute("SELECT vc_jwt FROM core.credentials WHERE credential_id = %s", (ids["E1"],)).fetchone()
    payload = _payload(token)
    assert isinstance(payload["credentialStatus"], dict), "one credentialStatus object (the OB 3.0 schema)"
    assert payload["credentialStatus"]["statusPurpose"] == "revocation"
    trusted = load_trust_list(tenants=[tenant], base_url=web_env.base_url)
    update_status(conn, tenant, StatusRequest(), issuer=issuer)

    held = update_status(conn, tenant, StatusRequest(suspend=(ids["E1"],), reason="incident 7 under review"),
                         issuer=issuer)
    assert (held.suspended, held.suspended_without_entry) == (1, [ids["E1"]])
    assert conn.execute("SELECT suspended_at IS NOT NULL, suspension_source FROM core.credentials"
                        " WHERE credential_id = %s", (ids["E1"],)).fetchone() == (True, "manual")
    assert audit(conn, tenant) == [("credential.suspended", "incident 7 under review", "manual")]
    # Not visible offline: the credential names no suspension list.
    assert verify(token, trusted=trusted, now=NOW).valid
    [seen] = node(node_verifier, token)
    assert (seen["verified"], seen["suspended"], seen["revoked"]) == (True, None, False), seen
    assert openbadgeslib_verify(token) is None

    update_status(conn, tenant, StatusRequest(unsuspend=(ids["E1"],), reason="incident 7 closed"), issuer=issuer)
    update_status(conn, tenant, StatusRequest(revoke=(ids["E1"],), reason="issued in error"), issuer=issuer)
    assert verify(token, trusted=trusted, now=NOW).reasons == ["revoked by the issuer"]
    [seen] = node(node_verifier, token)
    assert (seen["verified"], seen["revoked"]) == (False, True), seen


def _payload(token: str) -> dict:
    import base64

    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
