"""The one retry policy, over real HTTP on loopback: 5xx bounded, Retry-After capped, resets mid-body."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from credsync.hooks.policy import RetryPolicy, Timeouts, http_settings
from credsync.hooks.transport import (
    BearerAuth,
    Endpoint,
    HttpClient,
    Rejected,
    ServiceUnavailable,
    retry_after_seconds,
)
from tests.unit.hooks.loopback import serve
from tests.unit.rawhttp import raw_server

FAST = RetryPolicy(initial_seconds=0.01, multiplier=2, max_seconds=0.02, max_attempts=4, max_throttled=5)


def client(url: str, policy: RetryPolicy = FAST, sleeps: list[float] | None = None) -> HttpClient:
    sleep = sleeps.append if sleeps is not None else (lambda _s: None)
    return HttpClient(Endpoint(url, auth=BearerAuth("tok"), policy=policy, timeouts=Timeouts(2, 5)),
                      sleep=sleep, rng=random.Random(1))


def test_persistent_5xx_gives_up_after_max_attempts_naming_the_last_status():
    with serve([(503, {}, {"detail": "down"})]) as server, \
            pytest.raises(ServiceUnavailable, match=r"gave up after 4 attempts \(4 failures.*server_error 503") as err:
        client(server.url).request("GET", "/x")
    assert len(server.seen) == 4 == len(err.value.attempts)
    assert err.value.status == 503
    assert {a.outcome for a in err.value.attempts} == {"server_error"}


def test_5xx_then_success_returns_the_answer_with_every_attempt_recorded():
    with serve([(502, {}, None), (500, {}, None), (200, {}, {"ok": 1})]) as server:
        answer = client(server.url).request("GET", "/x")
    assert answer.json() == {"ok": 1}
    assert [a.status for a in answer.attempts] == [502, 500, 200]
    assert len({a.request_id for a in answer.attempts}) == 3
    assert [s.headers["X-Request-Id"] for s in server.seen] == [a.request_id for a in answer.attempts]
    assert all(s.headers["Authorization"] == "Bearer tok" for s in server.seen)


def test_a_4xx_is_final_and_not_retried():
    with serve([(404, {}, {"detail": "no such worker"})]) as server, \
            pytest.raises(Rejected, match=r"GET http://127\.0\.0\.1:\d+/missing: HTTP 404: .*no such worker") as err:
        client(server.url).request("GET", "/missing")
    assert len(server.seen) == 1 and err.value.status == 404


def test_retry_after_within_the_cap_is_waited_exactly():
    sleeps: list[float] = []
    with serve([(429, {"Retry-After": "2"}, None), (429, {"Retry-After": "1"}, None), (200, {}, {})]) as server:
        answer = client(server.url, RetryPolicy(), sleeps).request("GET", "/x")
    assert answer.status == 200 and sleeps == [2.0, 1.0]
    assert [a.outcome for a in answer.attempts] == ["throttled", "throttled", "ok"]


def test_a_retry_after_of_an_hour_is_not_slept_but_left_for_the_next_run():
    sleeps: list[float] = []
    with serve([(429, {"Retry-After": "3600"}, {"error": "rate_limited"})]) as server, \
            pytest.raises(ServiceUnavailable, match=r"asked to retry after 3600 s, more than the 60 s") as err:
        client(server.url, http_settings().retry, sleeps).request("GET", "/x")
    assert sleeps == [], "slept for a Retry-After beyond the cap"
    assert len(server.seen) == 1 and [a.outcome for a in err.value.attempts] == ["throttled"]
    assert err.value.status == 429


def test_an_http_date_retry_after_is_capped_too():
    later = format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    sleeps: list[float] = []
    with serve([(429, {"Retry-After": later}, None)]) as server, \
            pytest.raises(ServiceUnavailable, match="max_retry_after_seconds"):
        client(server.url, RetryPolicy(max_retry_after_seconds=30), sleeps).request("GET", "/x")
    assert sleeps == []


def test_all_waits_of_one_call_stay_within_the_total_budget():
    sleeps: list[float] = []
    with serve([(429, {"Retry-After": "2"}, None)]) as server, \
            pytest.raises(ServiceUnavailable, match=r"budget of one call \(max_total_wait_seconds\)"):
        client(server.url, RetryPolicy(max_total_wait_seconds=5), sleeps).request("GET", "/x")
    assert sleeps == [2.0, 2.0] and len(server.seen) == 3


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds("3") == 3
    in_ten = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 8 <= retry_after_seconds(in_ten) <= 10
    assert retry_after_seconds(None) == 1 and retry_after_seconds("soon") == 1


def test_backoff_starts_at_half_a_second_doubles_and_caps_at_thirty():
    policy = RetryPolicy()
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 7, 8, 20)] == [0.5, 1, 2, 4, 30, 30, 30]
    assert http_settings().retry == RetryPolicy()  # include/http.yaml ships the documented defaults


@pytest.mark.parametrize("stream", [False, True])
def test_cuts_mid_body_are_recorded_as_connection_errors_and_retried(stream: bool):
    policy = RetryPolicy(initial_seconds=0.01, max_seconds=0.02, max_attempts=6)
    with raw_server(["short", "rst", "chunked_cut", "gzip_cut", "ok"]) as server:
        answer = client(server.url, policy).call("PUT", "/api/v1/x", json={"active": True}, stream=stream)
    assert answer.status == 200 and answer.body["data"] == list(range(200))
    assert [a.outcome for a in answer.attempts] == ["connection_error"] * 4 + ["ok"]
    assert "Connection broken" in (answer.attempts[1].error or "")


def test_resets_past_the_budget_raise_unavailable_with_status_none(caplog):
    caplog.set_level(logging.WARNING, logger="credsync.hooks.transport")
    with raw_server(["rst"]) as server, pytest.raises(ServiceUnavailable, match="connection_error") as err:
        client(server.url).request("GET", "/x")
    assert len(err.value.attempts) == FAST.max_attempts == server.count
    assert err.value.status is None  # the answer was lost: a create sent once looks up before resending
    assert "attempt 1: connection_error (" in caplog.text and "Connection reset by peer" in caplog.text


def test_retry_false_sends_once():
    with raw_server(["rst"]) as server, pytest.raises(ServiceUnavailable, match="sent once"):
        client(server.url).call("POST", "/Users", json={}, retry=False)
    assert server.count == 1


def test_a_malformed_url_is_raised_at_once_not_retried_into_unavailable():
    with pytest.raises(requests.exceptions.InvalidURL):
        client("http://[not-a-host").request("GET", "/x")
