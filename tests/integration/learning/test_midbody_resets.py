"""LRS statements and LMS completions pulled while the LRS sandbox cuts 20% of answers mid-body
(status and headers sent, body short, connection closed): the pull returns exactly what a clean one does."""

from __future__ import annotations

import json

import pytest
import requests

from credsync.hooks.lms import CompletionExport
from credsync.hooks.lrs import StatementPull
from credsync.hooks.transport import BearerAuth, HTTPBasicAuth, HttpClient

pytestmark = pytest.mark.slow
TENANT = "acme"


@pytest.fixture(scope="module")
def lrs(tmp_path_factory):
    from sandbox.launcher import generate_secrets, start_all

    env = generate_secrets([TENANT])
    with start_all(tmp_path_factory.mktemp("lrs-resets"), env=env, names=["lrs"]) as running:
        url = running.url("lrs")
        requests.post(f"{url}/admin/{TENANT}/seed", json={"workers": 40, "seed": 3}, timeout=60).raise_for_status()
        key, secret = json.loads(env["SANDBOX_LRS_CREDENTIALS"])[TENANT]
        yield url, (key, secret), json.loads(env["SANDBOX_LMS_TOKENS"])[TENANT]
        requests.delete(f"{url}/admin/faults", timeout=10)


def pull_everything(url: str, basic, token: str) -> tuple[tuple, int]:
    """(statement ids, watermark, duplicates, completion items, LMS watermark), and the answers received."""
    session = requests.Session()
    answers: list[int] = []
    session.hooks["response"].append(lambda response, *args, **kwargs: answers.append(response.status_code))
    statements = StatementPull(HttpClient.for_url(f"{url}/{TENANT}/xAPI/", auth=HTTPBasicAuth(*basic), session=session),
                               since=None, page_size=10)
    ids = [s["id"] for s in statements]
    export = CompletionExport(HttpClient.for_url(
        f"{url}/{TENANT}/lms/api/v1/", auth=BearerAuth(token), session=session),
                              updated_since=None)
    items = [json.dumps(item, sort_keys=True) for item in export]
    return (ids, statements.watermark, statements.duplicates, items, export.watermark), len(answers)


@pytest.mark.parametrize("seed", [1, 2])
def test_pulls_under_mid_body_resets_match_a_clean_pull(lrs, seed: int) -> None:
    url, basic, token = lrs
    clean, clean_answers = pull_everything(url, basic, token)
    assert len(clean[0]) > 30 and clean[3], "the seed gave too little to page through"

    requests.put(f"{url}/admin/faults", json={"reset_rate": 0.2, "seed": seed}, timeout=10).raise_for_status()
    try:
        faulted, answers = pull_everything(url, basic, token)  # used to raise ChunkedEncodingError on a cut page
    finally:
        requests.delete(f"{url}/admin/faults", timeout=10).raise_for_status()

    assert answers > clean_answers, "no answer was cut: the test proves nothing"
    ids, watermark, duplicates, items, lms_watermark = faulted
    assert len(ids) == len(set(ids)) and duplicates == 0
    assert (ids, watermark, items, lms_watermark) == (clean[0], clean[1], clean[3], clean[4])
