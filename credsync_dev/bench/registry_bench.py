"""Registry push benchmark: throughput against the registry's rate limit, requests per credential.

Starts a registry sandbox with a token bucket of ``--rate`` requests/s, seeds
``--credentials`` credentials into a throwaway warehouse database (spread over
``--tenants`` tenants, pushed concurrently as the Airflow mapped tasks would
be), pushes them all and prints:

- achieved request rate as a share of the rate limit (goal >= 90 %), measured
  while work was queued;
- HTTP requests per credential (goal close to 1 / batch size);
- registry certificates vs credentials and duplicates (must be equal / 0).

    python -m credsync_dev.bench.registry_bench                       # 100,000 credentials
    python -m credsync_dev.bench.registry_bench --credentials 10000 --faults
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

SEED_SQL = (
    "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name,"
    " employment_status, employment_type, source_updated_at, mapping_version, last_batch_id)"
    " SELECT %(tenant)s, 'E' || lpad(n::text, 7, '0'), 'hris_main', 'Given' || n, 'Family' || n, 'active',"
    " 'employee', now(), 'bench', gen_random_uuid() FROM generate_series(1, %(count)s::int) AS n",
    "INSERT INTO core.credentials (credential_id, tenant_id, employee_id, credential_type, issuer, rule_version,"
    " issue_date, expiry_date, status, evidence, version)"
    " SELECT gen_random_uuid(), %(tenant)s, 'E' || lpad(n::text, 7, '0'), 'cpr_aed', 'credsync-training', '1',"
    " date '2026-01-10', date '2028-01-10', 'active', '{}'::jsonb, 1 FROM generate_series(1, %(count)s::int) AS n",
)
FAULTS = {"error_rate": 0.1, "burst_429": {"every": 50, "length": 5, "retry_after": 1},
          "reset_rate": 0.02, "hang_rate": 0.01, "hang_seconds": 3, "seed": 11}


def _admin(base: str, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    import requests

    response = requests.request(method, base + path, json=body, timeout=10)
    response.raise_for_status()
    return response.json() if response.content else None


def run(credentials: int, rate: float, tenants: int, batch_size: int, faults: bool) -> dict[str, Any]:
    from credsync.delivery.config import load_delivery_settings
    from credsync.delivery.push import push_submissions
    from credsync.hooks.registry import RegistryClient
    from credsync.warehouse import connect, migrate
    from credsync_dev.localenv.postgres import ensure_server
    from sandbox.launcher import generate_secrets, start_all

    tenant_ids = [f"bench{i}" for i in range(tenants)]
    per_tenant = [credentials // tenants + (1 if i < credentials % tenants else 0) for i in range(tenants)]
    settings = replace(load_delivery_settings().registry, batch_size=batch_size)
    if faults:
        # Hangs must outlast the read timeout to count as timeouts.
        settings = replace(settings, timeout_seconds=2.0)
    env = generate_secrets(tenant_ids)
    env.update({"SANDBOX_REGISTRY_RATE": str(rate), "SANDBOX_REGISTRY_BURST": str(max(1, int(rate)))})
    server = ensure_server()
    db = server.temporary_database_name("credsync_bench")
    url = server.create_database(db)
    try:
        migrate(url)
        with connect(url) as conn:
            for tenant, count in zip(tenant_ids, per_tenant, strict=True):
                for statement in SEED_SQL:
                    conn.execute(statement, {"tenant": tenant, "count": count})
            conn.commit()
        with tempfile.TemporaryDirectory() as data_dir, start_all(
                Path(data_dir), env=env, names=["registry"]) as sandboxes:
            base = sandboxes.url("registry")
            if faults:
                _admin(base, "PUT", "/admin/faults", FAULTS)
            client_id, entry = next(iter(json.loads(env["SANDBOX_REGISTRY_CLIENTS"]).items()))
            started = time.monotonic()
            finished: dict[str, float] = {}
            lock = threading.Lock()

            def push(tenant: str) -> dict[str, Any]:
                # One client per tenant, as separate Airflow task processes would have.
                client = RegistryClient.for_url(base, client_id, entry["secret"], **settings.client_options())
                result = push_submissions(url, tenant, client, settings=settings)
                with lock:
                    finished[tenant] = time.monotonic() - started
                return result.as_counts()

            with ThreadPoolExecutor(max_workers=tenants) as pool:
                results = list(pool.map(push, tenant_ids))
            elapsed = time.monotonic() - started
            _admin(base, "DELETE", "/admin/faults")
            stats = _admin(base, "GET", "/admin/stats")
            listing_client = RegistryClient.for_url(base, client_id, entry["secret"], **settings.client_options())
            duplicates = 0
            total_registered = 0
            for tenant in tenant_ids:
                keys = Counter((c["learner_id"], c["credential_version"])
                               for c in listing_client.list_certificates(tenant))
                total_registered += len(keys)
                duplicates += sum(n - 1 for n in keys.values())
    finally:
        server.drop_database(db)
    api_requests = sum(r["count"] for r in stats["requests"]
                       if r["endpoint"].startswith("/v1/certificates") and r["method"] == "POST")
    throttled = sum(r["count"] for r in stats["requests"] if r["status"] == 429)
    # Every HTTP exchange the push made, including 429s and faulted ones.
    push_requests = sum(r["requests"] for r in results)
    accepted = push_requests - throttled
    # Share of R: requests the registry let through per second while work was queued.
    busy = max(finished.values())
    return {
        "credentials": credentials, "tenants": tenants, "batch_size": batch_size, "rate_limit_rps": rate,
        "faults": faults, "elapsed_s": round(elapsed, 1),
        "push_requests": push_requests, "throttled_429": throttled, "registry_post_requests": api_requests,
        "achieved_rps": round(accepted / busy, 2),
        "share_of_rate_limit": round(accepted / busy / rate, 3),
        "requests_per_credential": round(push_requests / credentials, 4),
        "accepted_requests_per_credential": round(accepted / credentials, 4),
        "ideal_requests_per_credential": round(1 / batch_size, 4),
        "acknowledged": sum(r["acknowledged"] for r in results), "dead": sum(r["dead"] for r in results),
        "registered": total_registered, "duplicates": duplicates,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credsync_dev.bench.registry_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--credentials", type=int, default=100_000)
    # Below the sandbox's own capacity (~12 batch requests/s on 2 cores), so the limit is what binds.
    parser.add_argument("--rate", type=float, default=5.0, help="registry rate limit R, requests/s")
    parser.add_argument("--tenants", type=int, default=4, help="tenants pushed concurrently")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--faults", action="store_true", help="10%% 5xx, 429 bursts, resets, hangs")
    args = parser.parse_args(argv)
    figures = run(args.credentials, args.rate, args.tenants, args.batch_size, args.faults)
    width = max(map(len, figures))
    for name, value in figures.items():
        print(f"{name:<{width}}  {value}")
    ok = figures["registered"] == figures["acknowledged"] and figures["duplicates"] == 0
    print("goal: share_of_rate_limit >= 0.9, requests_per_credential ~ 1/batch_size, duplicates = 0")
    return 0 if ok else 1


if __name__ == "__main__" and __spec__ is not None and __spec__.name == "credsync_dev.bench.registry_bench":
    sys.exit(main())
