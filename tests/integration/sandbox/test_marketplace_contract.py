"""The marketplace sandbox against its own OpenAPI document, fuzzed by Schemathesis (as the registry's is)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from sandbox.launcher import SandboxSet, generate_secrets, marketplace_client_id, start_all

REPO_ROOT = Path(__file__).resolve().parents[3]
CONTRACT = REPO_ROOT / "sandbox" / "marketplace" / "openapi.yaml"
SCHEMATHESIS_CONFIG = CONTRACT.with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def marketplace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxSet]:
    env = {**generate_secrets(["acme"]), "SANDBOX_MARKETPLACE_RATE": "1000", "SANDBOX_MARKETPLACE_BURST": "2000"}
    with start_all(tmp_path_factory.mktemp("marketplace-contract"), env=env, names=["marketplace"]) as running:
        yield running


def _token(running: SandboxSet) -> str:
    client_id = marketplace_client_id("acme")
    secret = json.loads(running.env["SANDBOX_MARKETPLACE_CLIENTS"])[client_id]["secret"]
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = httpx.post(f"{running.url('marketplace')}/oauth/token", data={"grant_type": "client_credentials"},
                          headers={"Authorization": f"Basic {basic}"}, timeout=10)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_the_served_contract_is_the_committed_one(marketplace: SandboxSet) -> None:
    served = httpx.get(f"{marketplace.url('marketplace')}/openapi.yaml", timeout=10)
    assert served.status_code == 200 and yaml.safe_load(served.text) == yaml.safe_load(CONTRACT.read_text())
    operations = {op["operationId"] for path in yaml.safe_load(CONTRACT.read_text())["paths"].values()
                  for op in path.values()}
    assert {"issueToken", "revokeToken", "putMember", "listMembers", "listLearningRecords", "listBadges",
            "postEvent", "createImport", "getImport", "putEligibility", "listEligibility"} <= operations


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_sandbox_conforms_to_its_openapi_contract(marketplace: SandboxSet, tmp_path: Path) -> None:
    """Schemathesis drives every operation (examples, coverage, fuzzing) with all checks."""
    schemathesis = Path(sys.executable).with_name("schemathesis")
    command = [
        str(schemathesis), "--config-file", str(SCHEMATHESIS_CONFIG), "run", str(CONTRACT),
        "--url", marketplace.url("marketplace"),
        "--header", f"Authorization: Bearer {_token(marketplace)}",
        "--checks", "all", "--max-examples", "6", "--seed", "1", "--no-shrink",
        "--request-timeout", "10", "--warnings", "off",
    ]
    started = time.monotonic()
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=140,
                         env={**os.environ, "NO_COLOR": "1"})
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    assert "Selected: 12/12" in run.stdout and "Tested: 12" in run.stdout, run.stdout[-3000:]
    assert time.monotonic() - started < 120
