"""Credential signing rate against raw Ed25519, and revocations reflected in republished status lists.

    python -m credsync_dev.bench.credentials_bench [--count 100000] [--formats vc+jwt,eddsa-rdfc-2022]
        [--revocations 10000]

Signing: ``--count`` OB 3.0 credentials in each securing format, built and signed exactly as issuance
does — vc+jwt: ``build_credential`` → ``jwt_payload`` → ``sign_payload``; eddsa-rdfc-2022:
``data_integrity.sign_credential`` (RDFC-1.0 canonicalisation of every credential, proof options
canonicalised once per run as issuance does) — streamed (each credential is counted and dropped),
beside raw Ed25519 signatures (``cryptography``) over the same bytes in the same run: the JWT payload,
or the credential's JSON. Peak RSS is sampled at 10% and at the end: flat means nothing is held per
credential.
Revocations: ``--revocations`` credentials of one issuer allocated status indexes, revoked, and the
list republished through ``publish_issuer``, in a scratch warehouse database (on
``CREDSYNC_DATABASE_URL``'s server, else an embedded Postgres).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

from credsync.credentials import data_integrity, status
from credsync.credentials.formats import FORMATS, VC_JWT
from credsync.credentials.issuers import Issuer
from credsync.credentials.keys import generate_signing_key, parse_signing_key
from credsync.credentials.vc import CredentialClaims, Evidence, build_credential, jwt_payload, sign_payload
from credsync_dev.bench.memory import peak_rss_mib

BASE = "https://credentials.bench.example"


def _claims(i: int) -> CredentialClaims:
    return CredentialClaims(
        credential_id=str(uuid.UUID(int=i)), tenant_id="bench", employee_id=f"E{i:07d}",
        credential_type="forklift_operator", achievement_name="Forklift operator", issuer_name="credsync-training",
        rule_id="FORKLIFT-OP", rule_version="1", issue_date=date(2025, 5, 1), expiry_date=date(2028, 4, 30),
        evidence=Evidence([str(uuid.UUID(int=i + 1))], 88.0, datetime(2025, 5, 1, 10, tzinfo=UTC), ["FORKLIFT-200"]),
        status=status.status_entry(f"{BASE}/issuers/bench", "revocation", 1, i % status.LIST_SIZE),
    )


def _signer(credential_format: str, issuer: Issuer, signed_at: datetime):
    """(sign claims -> secured text, the bytes raw Ed25519 signs for the same credential)."""
    if credential_format == data_integrity.FORMAT:
        cache = data_integrity.ProofConfigCache()
        return (lambda claims: data_integrity.sign_credential(claims, issuer, signed_at=signed_at, cache=cache),
                lambda claims: data_integrity.serialize(build_credential(claims, issuer.did)).encode())
    return (lambda claims: sign_payload(jwt_payload(build_credential(claims, issuer.did), signed_at=signed_at),
                                        issuer),
            lambda claims: json.dumps(jwt_payload(build_credential(claims, issuer.did), signed_at=signed_at),
                                      separators=(",", ":")).encode())


def bench_signing(count: int, credential_format: str = VC_JWT) -> dict[str, float]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from jwcrypto.common import base64url_decode

    issuer = Issuer.for_tenant("bench", parse_signing_key(generate_signing_key()), base_url=BASE)
    raw_key = Ed25519PrivateKey.from_private_bytes(base64url_decode(issuer.key.private_jwk["d"]))
    signed_at = datetime.now(UTC)
    sign, raw_bytes = _signer(credential_format, issuer, signed_at)
    # The same bytes, signed raw: a bounded sample reused, so memory stays out of the comparison.
    payloads = [raw_bytes(_claims(i)) for i in range(min(count, 2_000))]
    rss_at_tenth = 0.0
    total_bytes = 0
    ours = raw = 0.0
    # Interleaved in chunks, so a change in machine load hits both sides alike.
    for chunk_start in range(0, count, 1_000):
        chunk = range(chunk_start, min(chunk_start + 1_000, count))
        started = time.perf_counter()
        for i in chunk:
            total_bytes += len(sign(_claims(i)))
        ours += time.perf_counter() - started
        started = time.perf_counter()
        for i in chunk:
            raw_key.sign(payloads[i % len(payloads)])
        raw += time.perf_counter() - started
        if chunk_start <= count // 10 < chunk_start + 1_000:
            rss_at_tenth = peak_rss_mib()
    rss_at_end = peak_rss_mib()
    return {"format": credential_format, "count": count, "credentials_per_s": count / ours,
            "raw_ed25519_per_s": count / raw,
            "share_of_raw": (count / ours) / (count / raw), "mean_token_bytes": total_bytes / count,
            "peak_rss_mib_at_10pct": rss_at_tenth, "peak_rss_mib_at_end": rss_at_end}


def bench_revocations(count: int, url: str) -> dict[str, float]:
    from credsync.credentials import issuer_store
    from credsync.credentials.publish import publish_issuer
    from credsync.warehouse import connect

    tenant = f"bench{uuid.uuid4().hex[:8]}"
    issuer = Issuer.for_tenant(tenant, parse_signing_key(generate_signing_key()), base_url=BASE)
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with tempfile.TemporaryDirectory() as folder, connect(url, autocommit=True) as conn:
        with conn.transaction(), conn.cursor() as cur:
            issuer_store.register_key(cur, issuer)
            with cur.copy("COPY core.credentials (credential_id, tenant_id, employee_id, credential_type, issuer,"
                          " rule_version, issue_date, status, evidence, award_id) FROM STDIN") as copy:
                for n, cid in enumerate(ids):
                    copy.write_row((cid, tenant, f"E{n}", "forklift_operator", "bench", "1", date(2025, 5, 1),
                                    "active", "{}", cid))
            issuer_store.allocate(cur, issuer, ids)
        root = Path(folder).as_uri()
        publish_issuer(conn, issuer, root_url=root)
        started = time.perf_counter()
        conn.execute("UPDATE core.credentials SET status = 'revoked', status_reason = 'bench' WHERE tenant_id = %s",
                     (tenant,))
        result = publish_issuer(conn, issuer, root_url=root)
        elapsed = time.perf_counter() - started
        with conn.transaction():
            conn.execute("DELETE FROM core.credential_status WHERE issuer_did = %s", (issuer.did,))
            conn.execute("DELETE FROM core.status_lists WHERE issuer_did = %s", (issuer.did,))
            conn.execute("DELETE FROM core.issuer_keys WHERE issuer_did = %s", (issuer.did,))
            conn.execute("DELETE FROM core.credentials WHERE tenant_id = %s", (tenant,))
    return {"revocations": count, "revoke_and_republish_s": elapsed, "lists_written": result.lists_written}


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore", message="EdDSA is deprecated")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--formats", default=",".join(FORMATS),
                        help=f"comma-separated securing formats to sign in (default: {','.join(FORMATS)})")
    parser.add_argument("--revocations", type=int, default=10_000)
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        parser.error(f"unknown format(s) {', '.join(unknown)}; expected {', '.join(FORMATS)}")
    for credential_format in formats:
        print(json.dumps(bench_signing(args.count, credential_format), indent=1), flush=True)
    from credsync.warehouse import migrate
    from credsync_dev.localenv.postgres import ensure_server

    server = ensure_server()  # CREDSYNC_DATABASE_URL's server, else an embedded one
    database = f"credsync_bench_credentials_{os.getpid()}"
    url = server.create_database(database)
    try:
        migrate(url)
        print(json.dumps(bench_revocations(args.revocations, url), indent=1))
    finally:
        server.drop_database(database)
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
