"""An issuer web origin on loopback HTTP over a did-web folder in the object store (file://)."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from credsync.credentials.issuers import Issuer, load_trust_list, tenant_issuer_did
from credsync.credentials.keys import SigningKey, generate_signing_key, parse_signing_key
from credsync.credentials.rules import load_rules
from credsync.paths import PROJECT_ROOT
from credsync.warehouse import connect
from sandbox.issuer_web.server import start

VERIFIERS_DIR = PROJECT_ROOT / "verifiers"
BATCH = "00000000-0000-4000-8000-000000000000"


@dataclass
class IssuerWeb:
    root: Path
    base_url: str

    def issuer(self, tenant_id: str, key: SigningKey) -> Issuer:
        return Issuer.for_tenant(tenant_id, key, base_url=self.base_url)


@pytest.fixture(scope="module")
def issuer_web(tmp_path_factory) -> Iterator[IssuerWeb]:
    root = tmp_path_factory.mktemp("did-web")
    server = start(root)
    try:
        yield IssuerWeb(root, f"http://localhost:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def web_env(issuer_web, monkeypatch) -> IssuerWeb:
    """The environment a worker has: base URL and did-web store configured."""
    monkeypatch.setenv("CREDSYNC_ISSUER_BASE_URL", issuer_web.base_url)
    monkeypatch.setenv("CREDSYNC_DID_WEB_STORE", issuer_web.root.as_uri())
    return issuer_web


@pytest.fixture
def key() -> SigningKey:
    return parse_signing_key(generate_signing_key())


def module_tenants(prefix: str, count: int) -> list[str]:
    """Tenant ids for a module whose tests share one registry sandbox: it is started once with its trust
    list, so the tenants (their issuers) are fixed per module. The module names them ``TENANTS``."""
    return [f"{prefix}{uuid.uuid4().hex[:10]}" for _ in range(count)]


@pytest.fixture(scope="module")
def _tenant_pool(request) -> Iterator[str] | None:
    tenants = getattr(request.module, "TENANTS", None)
    return iter(tenants) if tenants is not None else None


@pytest.fixture
def tenant(_tenant_pool) -> str:
    """The next of the module's ``TENANTS`` when it has them, else a fresh tenant id."""
    return next(_tenant_pool) if _tenant_pool is not None else "t" + uuid.uuid4().hex[:10]


@pytest.fixture(scope="module")
def registry(issuer_web, tmp_path_factory, request):
    """The registry sandbox over HTTP, trusting the issuers of the module's ``TENANTS``."""
    from tests.integration.sandbox.test_registry_contract import running_registry

    trusted_dids = ",".join(tenant_issuer_did(t, issuer_web.base_url) for t in request.module.TENANTS)
    with running_registry(tmp_path_factory.mktemp("registry"), SANDBOX_REGISTRY_TRUSTED_ISSUERS=trusted_dids) as url:
        yield url


@pytest.fixture(scope="module")
def rules():
    return load_rules()


def trusted(web: IssuerWeb, tenants: list[str]) -> frozenset[str]:
    """credsync's trust list for ``tenants``' issuers at the issuer origin."""
    return load_trust_list(tenants=tenants, base_url=web.base_url)


@pytest.fixture
def conn(warehouse_url):
    with connect(warehouse_url, autocommit=True) as connection:
        yield connection


@pytest.fixture(scope="session")
def node_verifier() -> Path:
    """verifiers/ with node_modules installed from the lockfile (npm ci); skip without node."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed: the did-jwt-vc / jose verifiers cannot run")
    # Every package the verifiers import: a node_modules from an older lockfile is reinstalled.
    wanted = json.loads((VERIFIERS_DIR / "package.json").read_text())["dependencies"]
    if not all((VERIFIERS_DIR / "node_modules" / name / "package.json").is_file() for name in wanted):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=VERIFIERS_DIR, check=True,
                       capture_output=True, timeout=300)
    return VERIFIERS_DIR


def add_worker(conn, tenant: str, employee_id: str) -> None:
    conn.execute(
        "INSERT INTO core.workers (tenant_id, employee_id, source_system, given_name, family_name,"
        " employment_status, employment_type, source_updated_at, mapping_version, last_batch_id)"
        " VALUES (%s, %s, 'hris_main', 'Test', 'Worker', 'active', 'employee', now(), 'v1', %s)",
        (tenant, employee_id, BATCH),
    )


def add_completion(conn, tenant: str, employee_id: str, course: str, when: str, score: float = 90) -> str:
    source_id = str(uuid.uuid4())
    conn.execute(
        "INSERT INTO core.completions (tenant_id, source, source_id, employee_id, course_code, verb, success,"
        " score, completed_at, batch_id, mapping_version) VALUES (%s, 'xapi', %s, %s, %s, 'passed', true, %s, %s,"
        " %s, 'v1')",
        (tenant, source_id, employee_id, course, score, datetime.fromisoformat(when).replace(tzinfo=UTC), BATCH),
    )
    return source_id


def tokens(conn, tenant: str) -> dict[str, str]:
    rows = conn.execute("SELECT employee_id || ':' || credential_type, vc_jwt FROM core.credentials"
                        " WHERE tenant_id = %s AND status = 'active'", (tenant,)).fetchall()
    return dict(rows)


def openbadgeslib_verify(jwt: str, *, check_status: bool = True) -> str | None:
    """openbadgeslib (PyPI) on a vc+jwt: None when it verifies, else its reason.

    It is anchored to the DID the credential claims (``for_issuer_did``) and given our DID resolution for
    loopback origins: its did:web fetcher builds ``https://localhost:PORT/…`` URLs, fetched here (like the
    status lists) over the loopback origin's plain HTTP; on its own it refuses private addresses, rightly.
    """
    import json as _json

    import requests
    from joserfc import jws
    from openbadgeslib.ob3.verifier import OB3VerificationError, OB3Verifier

    def download(url: str, *_args: object, **_kwargs: object) -> bytes:
        assert url.startswith(("https://localhost:", "http://localhost:")), url
        response = requests.get(url.replace("https://", "http://", 1), timeout=10)
        response.raise_for_status()
        return response.content

    try:
        issuer = _json.loads(jws.extract_compact(jwt.encode()).payload)["iss"]
    except ValueError as exc:  # a tampered payload need not even be JSON: nothing to anchor to
        return f"unreadable payload ({exc})"
    try:
        verifier = OB3Verifier.for_issuer_did(issuer, download=download)
        verifier.verify(jwt, check_status=check_status, download=download)
    except (OB3VerificationError, ValueError) as exc:
        return str(exc) or type(exc).__name__
    return None
