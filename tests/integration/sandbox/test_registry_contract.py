"""Contract and behaviour tests for the registry sandbox, over real HTTP to a uvicorn subprocess."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey

from sandbox.registry.didkey import DidKeyError, did_key_from_public_bytes, did_key_to_jwk

REPO_ROOT = Path(__file__).resolve().parents[3]
CONTRACT = REPO_ROOT / "sandbox" / "registry" / "openapi.yaml"
SCHEMATHESIS_CONFIG = CONTRACT.with_name("schemathesis.toml")
# One pooled client: a fresh httpx call per request builds a TLS context each time, which adds up.
HTTP = httpx.Client(timeout=10)
CLIENTS = {
    "credsync": {"secret": "s3cret-credsync", "tenants": ["acme", "globex"]},
    "auditor": {"secret": "s3cret-auditor", "tenants": ["acme"], "scopes": ["certificates:read"]},
    "initech": {"secret": "s3cret-initech", "tenants": ["initech"]},
    # Any tenant, so generated tenant ids reach the business logic instead of stopping at 403.
    "fuzzer": {"secret": "s3cret-fuzzer", "tenants": ["*"]},
    "limited": {"secret": "s3cret-limited", "tenants": ["acme"]},
    "expiring": {"secret": "s3cret-expiring", "tenants": ["acme"]},
}


# -- running the sandbox ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_registry(data_dir: Path, **env: str) -> Iterator[str]:
    """Start the sandbox with uvicorn on a free port; yield its base URL; stop it afterwards."""
    port = _free_port()
    log_path = data_dir / f"uvicorn-{port}.log"
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "SANDBOX_DATA_DIR": str(data_dir),
        "SANDBOX_REGISTRY_CLIENTS": json.dumps(CLIENTS),
        **env,
    }
    environment.pop("SANDBOX_FAULTS_REGISTRY", None)
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "sandbox.registry.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=log, stderr=log)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"registry sandbox exited early:\n{log_path.read_text()}")
            try:
                if HTTP.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"registry sandbox did not become healthy:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module", autouse=True)
def _close_http_client() -> Iterator[None]:
    yield
    HTTP.close()


# /v1/verify accepts only issuers on the registry's trust list: these are on it.
_TRUSTED: dict[str, tuple[Any, str]] = {}
TRUSTED_ISSUERS = (("accepted", "Ed25519"), ("p256", "P-256"), ("forged", "Ed25519"), ("revoked", "Ed25519"))


def trusted_issuer(name: str) -> tuple[Any, str]:
    if name not in _TRUSTED:
        _TRUSTED[name] = ed25519_issuer() if dict(TRUSTED_ISSUERS)[name] == "Ed25519" else p256_issuer()
    return _TRUSTED[name]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The sandbox with default limits (generous rate, 300 s tokens)."""
    trusted = ",".join(trusted_issuer(name)[1] for name, _ in TRUSTED_ISSUERS)
    with running_registry(tmp_path_factory.mktemp("registry"), SANDBOX_REGISTRY_TRUSTED_ISSUERS=trusted) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def strict_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A sandbox with a tiny token bucket and one-second tokens."""
    with running_registry(
        tmp_path_factory.mktemp("strict-registry"),
        SANDBOX_REGISTRY_RATE="2",
        SANDBOX_REGISTRY_BURST="3",
        SANDBOX_REGISTRY_TOKEN_TTL="1",
    ) as base_url:
        yield base_url


# -- helpers ----------------------------------------------------------------------------------


def token(base_url: str, client_id: str = "credsync", scope: str | None = None) -> str:
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": CLIENTS[client_id]["secret"]}
    if scope:
        form["scope"] = scope
    response = HTTP.post(f"{base_url}/oauth/token", data=form)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


def certificate(**overrides: Any) -> dict[str, Any]:
    body = {
        "tenant_id": "acme",
        "learner_id": f"E-{uuid.uuid4().hex[:10]}",
        "learner_name": "Ada Example",
        "credential_type": "forklift-operator",
        "credential_version": "2024.1",
        "issued_on": "2024-03-01",
        "expires_on": "2027-03-01",
        "issuer": "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",
        "evidence_url": "https://lms.acme.example/courses/FORK-101",
        "credential_jwt": None,
    }
    return {**body, **overrides}


def create(base_url: str, access_token: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {**bearer(access_token), "Idempotency-Key": key or uuid.uuid4().hex}
    return HTTP.post(f"{base_url}/v1/certificates", json=body, headers=headers)


@contextmanager
def faults(base_url: str, switches: dict[str, Any]) -> Iterator[None]:
    assert HTTP.put(f"{base_url}/admin/faults", json=switches).status_code == 200
    try:
        yield
    finally:
        assert HTTP.delete(f"{base_url}/admin/faults").status_code == 200


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def ed25519_issuer() -> tuple[OKPKey, str]:
    key = OKPKey.generate_key("Ed25519")
    return key, did_key_from_public_bytes("Ed25519", _b64url_decode(key.as_dict()["x"]))


def p256_issuer() -> tuple[ECKey, str]:
    key = ECKey.generate_key("P-256")
    public = key.as_dict(private=False)
    y_is_odd = _b64url_decode(public["y"])[-1] & 1
    compressed = bytes([0x03 if y_is_odd else 0x02]) + _b64url_decode(public["x"])
    return key, did_key_from_public_bytes("P-256", compressed)


def sign_vc(key: OKPKey | ECKey, issuer: str, alg: str, learner_name: str = "Ada Example") -> str:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": "urn:credsync:acme:E-1001",
        "nbf": now - 10,
        "exp": now + 3600,
        "vc": {
            "@context": ["https://www.w3.org/2018/credentials/v1"],
            "type": ["VerifiableCredential", "OpenBadgeCredential"],
            "credentialSubject": {"name": learner_name, "achievement": "forklift-operator"},
        },
    }
    header = {"alg": alg, "typ": "JWT", "kid": f"{issuer}#{issuer.removeprefix('did:key:')}"}
    with warnings.catch_warnings():
        # joserfc flags "EdDSA" as superseded by RFC 9864; credsync signs with it on purpose (docs/credentials.md).
        warnings.filterwarnings("ignore", message="EdDSA is deprecated")
        return jws.serialize_compact(header, json.dumps(claims).encode(), key, algorithms=[alg])


def verify(base_url: str, access_token: str, credential: str) -> dict[str, Any]:
    response = HTTP.post(f"{base_url}/v1/verify", json={"credential": credential}, headers=bearer(access_token))
    assert response.status_code == 200, response.text
    return response.json()


# -- the contract, fuzzed ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sandbox_conforms_to_its_openapi_contract(registry: str, tmp_path: Path) -> None:
    """Schemathesis drives every operation (examples, coverage, fuzzing, stateful) with all checks."""
    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis),
        "--config-file",
        str(SCHEMATHESIS_CONFIG),
        "run",
        str(CONTRACT),
        "--url",
        registry,
        "--header",
        f"Authorization: Bearer {token(registry, 'fuzzer')}",
        "--checks",
        "all",
        "--max-examples",
        "6",
        "--seed",
        "1",
        "--no-shrink",
        "--request-timeout",
        "10",
        "--warnings",
        "off",
    ]
    started = time.monotonic()
    run = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=90, env={**os.environ, "NO_COLOR": "1"}
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Selected: 8/8" in run.stdout and "Tested: 8" in run.stdout, run.stdout[-3000:]
    assert time.monotonic() - started < 60


# -- idempotency and duplicates ---------------------------------------------------------------


def test_same_key_and_body_replays_the_stored_201(registry: str) -> None:
    access = token(registry)
    body = certificate()
    first = create(registry, access, body, key="replay-1-" + body["learner_id"])
    again = create(registry, access, body, key="replay-1-" + body["learner_id"])

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert first.headers["Location"] == f"/v1/certificates/{first.json()['id']}"


def test_reusing_a_key_with_a_different_body_is_422_and_stores_nothing(registry: str) -> None:
    access = token(registry)
    body = certificate()
    key = "reuse-" + body["learner_id"]
    assert create(registry, access, body, key=key).status_code == 201

    changed = {**body, "learner_id": body["learner_id"] + "-other"}
    response = create(registry, access, changed, key=key)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "Idempotency-Key" in response.json()["detail"]
    listing = HTTP.get(
        f"{registry}/v1/certificates", params={"tenant_id": "acme", "limit": 500}, headers=bearer(access)
    ).json()
    assert changed["learner_id"] not in {item["learner_id"] for item in listing["data"]}


def test_second_certificate_for_same_learner_type_and_version_is_409_naming_the_existing_one(
    registry: str,
) -> None:
    access = token(registry)
    body = certificate()
    existing = create(registry, access, body).json()

    duplicate = create(registry, access, {**body, "learner_name": "Ada E."})

    assert duplicate.status_code == 409
    assert duplicate.json()["certificate_id"] == existing["id"]
    # A new version of the same credential is a different certificate.
    assert create(registry, access, {**body, "credential_version": "2025.1"}).status_code == 201


def test_concurrent_identical_writes_store_one_certificate(registry: str) -> None:
    access = token(registry)
    body = certificate()
    key = "concurrent-" + body["learner_id"]
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: create(registry, access, body, key=key), range(16)))
    # Same learner, other keys: exactly one may win, the rest must see 409 naming it.
    with ThreadPoolExecutor(max_workers=8) as pool:
        racers = list(pool.map(lambda _: create(registry, access, {**body, "credential_version": "race"}), range(8)))

    assert {response.status_code for response in responses} == {201}
    assert len({response.json()["id"] for response in responses}) == 1
    assert sorted(response.status_code for response in racers) == [201] + [409] * 7
    winner = next(response.json()["id"] for response in racers if response.status_code == 201)
    assert {response.json()["certificate_id"] for response in racers if response.status_code == 409} == {winner}


def test_write_without_idempotency_key_is_400(registry: str) -> None:
    response = HTTP.post(f"{registry}/v1/certificates", json=certificate(), headers=bearer(token(registry)))
    assert response.status_code == 400
    assert response.json()["type"].endswith("idempotency-key-missing")


def test_body_outside_the_contract_is_422_with_pointers(registry: str) -> None:
    body = {**certificate(), "salary_band": "B3"}
    body.pop("issued_on")
    response = create(registry, token(registry), body)

    assert response.status_code == 422
    messages = " ".join(error["message"] for error in response.json()["errors"])
    assert "issued_on" in messages and "salary_band" in messages


# -- batch ------------------------------------------------------------------------------------


def test_batch_reports_created_replayed_duplicate_and_rejected_items(registry: str) -> None:
    access = token(registry)
    first, second = certificate(), certificate()
    known_key = "batch-known-" + first["learner_id"]
    existing = create(registry, access, first, key=known_key).json()
    items = [
        {"idempotency_key": "batch-new-" + second["learner_id"], "certificate": second},
        {"idempotency_key": known_key, "certificate": first},
        {"idempotency_key": "batch-dup-" + first["learner_id"], "certificate": first},
        {"idempotency_key": known_key, "certificate": {**first, "learner_name": "Someone Else"}},
        {"idempotency_key": "batch-bad-dates", "certificate": certificate(expires_on="2020-01-01")},
    ]

    response = HTTP.post(f"{registry}/v1/certificates/batch", json={"items": items}, headers=bearer(access))

    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [result["status"] for result in results] == [201, 200, 409, 422, 422]
    assert [result["index"] for result in results] == [0, 1, 2, 3, 4]
    assert results[0]["certificate"]["learner_id"] == second["learner_id"]
    assert results[1]["certificate"]["id"] == existing["id"]
    assert results[2]["certificate_id"] == existing["id"]
    assert "expires_on" in results[4]["problem"]["detail"]


def test_batch_over_100_items_is_rejected_whole(registry: str) -> None:
    items = [{"idempotency_key": f"too-many-{index}", "certificate": certificate()} for index in range(101)]
    response = HTTP.post(f"{registry}/v1/certificates/batch", json={"items": items}, headers=bearer(token(registry)))
    assert response.status_code == 422


# -- revocation and reading -------------------------------------------------------------------


def test_revoke_is_idempotent_and_keeps_the_first_reason_and_time(registry: str) -> None:
    access = token(registry)
    created = create(registry, access, certificate()).json()
    url = f"{registry}/v1/certificates/{created['id']}/revoke"

    first = HTTP.post(url, json={"reason": "expired without recertification"}, headers=bearer(access))
    second = HTTP.post(url, json={"reason": "another reason"}, headers=bearer(access))

    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == "revoked"
    assert first.json()["revocation_reason"] == "expired without recertification"
    assert second.json() == first.json()
    fetched = HTTP.get(f"{registry}/v1/certificates/{created['id']}", headers=bearer(access)).json()
    assert fetched["revoked_at"] == first.json()["revoked_at"]


def test_revoking_an_unknown_certificate_is_404(registry: str) -> None:
    response = HTTP.post(
        f"{registry}/v1/certificates/REG-{uuid.uuid4()}/revoke", json={"reason": "x"}, headers=bearer(token(registry))
    )
    assert response.status_code == 404


def test_listing_walks_pages_in_stable_order_and_honours_updated_since(registry: str) -> None:
    access = token(registry)
    tenant = "globex"
    before = HTTP.get(
        f"{registry}/v1/certificates", params={"tenant_id": tenant, "limit": 1}, headers=bearer(access)
    ).json()["as_of"]
    created = [create(registry, access, certificate(tenant_id=tenant)).json()["id"] for _ in range(5)]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"tenant_id": tenant, "updated_since": before, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = HTTP.get(f"{registry}/v1/certificates", params=params, headers=bearer(access)).json()
        seen += [item["id"] for item in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == created
    assert pages == 3
    # After revoking one, only it has changed since the previous walk.
    watermark = page["as_of"]
    HTTP.post(f"{registry}/v1/certificates/{created[2]}/revoke", json={"reason": "test"}, headers=bearer(access))
    changed = HTTP.get(
        f"{registry}/v1/certificates", params={"tenant_id": tenant, "updated_since": watermark}, headers=bearer(access)
    ).json()
    assert [item["id"] for item in changed["data"]] == [created[2]]


def test_listing_rejects_a_forged_cursor(registry: str) -> None:
    response = HTTP.get(
        f"{registry}/v1/certificates",
        params={"tenant_id": "acme", "cursor": "not-ours"},
        headers=bearer(token(registry)),
    )
    assert response.status_code == 400


# -- authentication, authorisation, limits ----------------------------------------------------


def test_requests_without_or_with_unknown_token_are_401(registry: str) -> None:
    url = f"{registry}/v1/certificates"
    missing = HTTP.get(url, params={"tenant_id": "acme"})
    unknown = HTTP.get(url, params={"tenant_id": "acme"}, headers=bearer("not-a-token"))

    assert missing.status_code == unknown.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    assert missing.headers["content-type"] == "application/problem+json"


def test_wrong_client_secret_gets_oauth_invalid_client(registry: str) -> None:
    response = HTTP.post(
        f"{registry}/oauth/token",
        data={"grant_type": "client_credentials", "client_id": "credsync", "client_secret": "wrong"},
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_http_basic_client_authentication_issues_a_token(registry: str) -> None:
    response = HTTP.post(
        f"{registry}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=("credsync", CLIENTS["credsync"]["secret"]),
    )
    assert response.status_code == 200
    assert response.json()["expires_in"] == 300
    assert response.headers["Cache-Control"] == "no-store"


def test_token_without_write_scope_cannot_create_but_can_read(registry: str) -> None:
    read_only = token(registry, "credsync", scope="certificates:read")
    assert create(registry, read_only, certificate()).status_code == 403
    listing = HTTP.get(f"{registry}/v1/certificates", params={"tenant_id": "acme"}, headers=bearer(read_only))
    assert listing.status_code == 200


def test_client_cannot_request_a_scope_it_does_not_hold(registry: str) -> None:
    response = HTTP.post(
        f"{registry}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "auditor",
            "client_secret": CLIENTS["auditor"]["secret"],
            "scope": "certificates:write",
        },
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


def test_client_cannot_act_for_a_tenant_it_is_not_registered_for(registry: str) -> None:
    acme_certificate = create(registry, token(registry), certificate()).json()
    outsider = token(registry, "initech")

    assert create(registry, outsider, certificate(tenant_id="acme")).status_code == 403
    listing = HTTP.get(f"{registry}/v1/certificates", params={"tenant_id": "acme"}, headers=bearer(outsider))
    assert listing.status_code == 403
    # Reading another tenant's certificate by id must not reveal that it exists.
    read = HTTP.get(f"{registry}/v1/certificates/{acme_certificate['id']}", headers=bearer(outsider))
    assert read.status_code == 404


def test_token_stops_working_after_its_ttl(strict_registry: str) -> None:
    response = HTTP.post(
        f"{strict_registry}/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "expiring",
            "client_secret": CLIENTS["expiring"]["secret"],
        },
    )
    assert response.json()["expires_in"] == 1
    headers = bearer(response.json()["access_token"])
    url = f"{strict_registry}/v1/certificates"

    assert HTTP.get(url, params={"tenant_id": "acme"}, headers=headers).status_code == 200
    time.sleep(1.2)
    expired = HTTP.get(url, params={"tenant_id": "acme"}, headers=headers)
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


def test_empty_token_bucket_answers_429_with_retry_after(strict_registry: str) -> None:
    access = token(strict_registry, "limited")
    url = f"{strict_registry}/v1/certificates"
    statuses = [HTTP.get(url, params={"tenant_id": "acme"}, headers=bearer(access)).status_code for _ in range(3)]
    limited = HTTP.get(url, params={"tenant_id": "acme"}, headers=bearer(access))

    assert statuses == [200, 200, 200]
    assert limited.status_code == 429
    retry_after = int(limited.headers["Retry-After"])
    assert retry_after >= 1
    time.sleep(retry_after)
    # This instance's tokens live one second, so the wait needs a fresh token; the bucket is per client.
    refreshed = token(strict_registry, "limited")
    assert HTTP.get(url, params={"tenant_id": "acme"}, headers=bearer(refreshed)).status_code == 200


# -- verification -----------------------------------------------------------------------------


def test_verify_accepts_an_ed25519_did_key_credential_and_rejects_a_changed_byte(registry: str) -> None:
    access = token(registry)
    key, issuer = trusted_issuer("accepted")
    credential = sign_vc(key, issuer, "EdDSA")

    accepted = verify(registry, access, credential)
    assert accepted == {"valid": True, "issuer": issuer, "reasons": []}

    header, payload, signature = credential.split(".")
    tampered_payload = _b64url_decode(payload).replace(b"Ada Example", b"Ada Exampld")
    tampered = ".".join([header, _b64url(tampered_payload), signature])
    rejected = verify(registry, access, tampered)
    assert rejected["valid"] is False
    assert rejected["issuer"] == issuer
    assert any("signature" in reason for reason in rejected["reasons"])


def test_verify_accepts_an_es256_p256_did_key_credential(registry: str) -> None:
    key, issuer = trusted_issuer("p256")
    assert verify(registry, token(registry), sign_vc(key, issuer, "ES256"))["valid"] is True


def test_verify_rejects_a_credential_signed_by_another_key_than_the_issuers(registry: str) -> None:
    _, issuer = trusted_issuer("forged")
    impostor, _ = ed25519_issuer()
    result = verify(registry, token(registry), sign_vc(impostor, issuer, "EdDSA"))
    assert result["valid"] is False


def test_verify_refuses_a_well_signed_credential_from_an_issuer_not_on_the_trust_list(registry: str) -> None:
    key, issuer = ed25519_issuer()
    result = verify(registry, token(registry), sign_vc(key, issuer, "EdDSA"))
    assert result == {"valid": False, "issuer": issuer,
                      "reasons": [f"issuer {issuer} is not on the registry's trust list"]}


def test_verify_reports_a_revoked_registered_credential(registry: str) -> None:
    access = token(registry)
    key, issuer = trusted_issuer("revoked")
    credential = sign_vc(key, issuer, "EdDSA")
    created = create(registry, access, certificate(issuer=issuer, credential_jwt=credential)).json()
    HTTP.post(
        f"{registry}/v1/certificates/{created['id']}/revoke", json={"reason": "withdrawn"}, headers=bearer(access)
    )

    result = verify(registry, access, credential)
    assert result["valid"] is False
    assert any("revoked" in reason for reason in result["reasons"])


def test_verify_answers_garbage_with_reasons_not_errors(registry: str) -> None:
    result = verify(registry, token(registry), "definitely-not-a-jws")
    assert result == {"valid": False, "issuer": None, "reasons": [result["reasons"][0]]}
    assert "compact JWS" in result["reasons"][0]


def test_did_key_round_trips_and_uses_the_spec_prefixes() -> None:
    ed_key, ed_did = ed25519_issuer()
    ec_key, ec_did = p256_issuer()

    assert ed_did.startswith("did:key:z6Mk")  # Ed25519 multicodec 0xed01 in base58btc
    assert ec_did.startswith("did:key:zDn")  # P-256 multicodec 0x1200 in base58btc
    assert did_key_to_jwk(ed_did) == ed_key.as_dict(private=False) | {"kty": "OKP"}
    ec_public = ec_key.as_dict(private=False)
    assert did_key_to_jwk(ec_did) == {"kty": "EC", "crv": "P-256", "x": ec_public["x"], "y": ec_public["y"]}
    with pytest.raises(DidKeyError, match="multicodec"):
        did_key_to_jwk("did:key:z" + "2" * 40)


# -- faults, admin, persistence ---------------------------------------------------------------


def test_error_rate_one_makes_every_business_request_fail_with_5xx(registry: str) -> None:
    access = token(registry)
    with faults(registry, {"error_rate": 1.0, "error_status": 503}):
        response = create(registry, access, certificate())
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert HTTP.get(f"{registry}/health").status_code == 200
    assert create(registry, access, certificate()).status_code == 201


def test_reset_rate_one_cuts_the_connection_yet_the_certificate_is_stored(registry: str) -> None:
    access = token(registry)
    body = certificate()
    key = "reset-" + body["learner_id"]
    with faults(registry, {"reset_rate": 1.0}), pytest.raises(httpx.TransportError):
        create(registry, access, body, key=key)

    retry = create(registry, access, body, key=key)
    assert retry.status_code == 201
    assert retry.headers["Idempotent-Replayed"] == "true"


def test_admin_delete_forgets_a_certificate_and_stats_count_requests(registry: str) -> None:
    access = token(registry)
    created = create(registry, access, certificate()).json()
    before = HTTP.get(f"{registry}/admin/stats").json()

    assert HTTP.delete(f"{registry}/admin/certificates/{created['id']}").status_code == 204
    assert HTTP.get(f"{registry}/v1/certificates/{created['id']}", headers=bearer(access)).status_code == 404
    after = HTTP.get(f"{registry}/admin/stats").json()

    assert after["certificates"]["total"] == before["certificates"]["total"] - 1
    counted = {(row["method"], row["endpoint"], row["status"]): row["count"] for row in after["requests"]}
    assert counted[("GET", "/v1/certificates/{certificate_id}", 404)] >= 1
    assert counted[("POST", "/v1/certificates", 201)] >= 1


@pytest.mark.slow
def test_restart_keeps_certificates_and_reset_empties_them(tmp_path: Path) -> None:
    with running_registry(tmp_path) as base_url:
        access = token(base_url)
        created = create(base_url, access, certificate()).json()
    with running_registry(tmp_path) as base_url:
        access = token(base_url)
        fetched = HTTP.get(f"{base_url}/v1/certificates/{created['id']}", headers=bearer(access))
        assert fetched.json() == created
        assert HTTP.post(f"{base_url}/admin/reset").status_code == 200
        access = token(base_url)  # reset also drops issued tokens
        assert HTTP.get(f"{base_url}/v1/certificates/{created['id']}", headers=bearer(access)).status_code == 404
