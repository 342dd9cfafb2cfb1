"""The pull endpoint as deployed: the plugin mounted in a real ``airflow api-server``, its clients
in Connection ``credsync_registry_pull`` (an ``AIRFLOW_CONN_*`` variable, as a secrets backend
would hand it over), and the registry sandbox pulling through it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from credsync.registry_pull.clients import secret_sha256
from sandbox.registry.puller import pull_tenant
from tests.browser.airflow_server import AirflowServer, airflow_api_server
from tests.integration.registry_pull.conftest import LEARNERS, SECRET, SIGNING_KEY

# The api-server starts in about a minute: in CI always, locally with CREDSYNC_CI_SLOW=1.
pytestmark = [pytest.mark.slow, pytest.mark.ci_slow]


@pytest.fixture(scope="module")
def api_server(warehouse, tmp_path_factory) -> Iterator[AirflowServer]:
    connection = {"conn_type": "generic", "password": SIGNING_KEY, "extra": {"clients": {
        "national-registry": {"secret_sha256": secret_sha256(SECRET), "tenants": ["acme"]}}}}
    with airflow_api_server(tmp_path_factory.mktemp("airflow-home"), warehouse_url=warehouse,
                            extra_env={"AIRFLOW_CONN_CREDSYNC_REGISTRY_PULL": json.dumps(connection)}) as server:
        yield server


def test_the_registry_sandbox_pulls_through_the_api_server_without_an_airflow_login(api_server) -> None:
    base = f"{api_server.url}/credsync-registry"
    result = pull_tenant(base, "national-registry", SECRET, "acme", page_size=4)
    assert (result.pages, len(result.learners)) == (2, LEARNERS)
    assert {c["status"] for learner in result.learners for c in learner["credentials"]} == {"active", "revoked"}
    # An Airflow login is not a registry client: the UI's own token does not open the endpoint.
    refused = requests.get(f"{base}/v1/tenants/acme/learners", timeout=30,
                           headers={"Authorization": f"Bearer {api_server.token()}"})
    assert refused.status_code == 401
