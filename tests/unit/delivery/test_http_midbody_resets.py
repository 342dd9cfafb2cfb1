"""Registry / HRIS write-back exchanges: the body is read inside the retry; only transport faults retry."""

from __future__ import annotations

import random

import pytest
import requests

from credsync.delivery.config import RetryPolicy
from credsync.delivery.http_retry import RegistryUnavailable, send_with_retry
from tests.unit.rawhttp import raw_server

POLICY = RetryPolicy(initial_seconds=0.01, multiplier=2, max_seconds=0.02, max_attempts=6, max_throttled=3)


def send(url: str, **kwargs: object):
    with requests.Session() as session:
        return send_with_retry(session, "PUT", url + "/api/v1/x", path="/api/v1/x", policy=POLICY,
                               timeout=(2, 5), sleep=lambda _s: None, rng=random.Random(1), service="hris",
                               json={"active": True}, **kwargs)


@pytest.mark.parametrize("stream", [False, True])
def test_cuts_mid_body_are_recorded_as_connection_errors_and_retried(stream: bool) -> None:
    with raw_server(["short", "rst", "chunked_cut", "gzip_cut", "ok"]) as server:
        answer = send(server.url, stream=stream)
    assert answer.status == 200 and answer.body["data"] == list(range(200))
    assert [a.outcome for a in answer.attempts] == ["connection_error"] * 4 + ["ok"]
    assert "Connection broken" in (answer.attempts[1].error or "")


def test_resets_past_the_budget_raise_unavailable_naming_the_last_failure() -> None:
    with raw_server(["rst"]) as server, pytest.raises(RegistryUnavailable, match="connection_error") as err:
        send(server.url)
    assert len(err.value.attempts) == POLICY.max_attempts == server.count


def test_a_malformed_url_is_raised_at_once_not_retried_into_unavailable() -> None:
    with pytest.raises(requests.exceptions.InvalidURL):
        send("http://[not-a-host")
