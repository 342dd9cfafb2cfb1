"""A long Retry-After ends the call instead of parking a worker in a pool slot; all waits have a budget."""

from __future__ import annotations

import pytest
import requests

from credsync.delivery.config import RetryPolicy
from credsync.delivery.http_retry import RegistryUnavailable, send_with_retry


class Throttling:
    """A session whose server answers 429 with ``retry_after`` until ``after`` calls, then 200.

    A stand-in for the fault only: the registry sandbox's 429 bursts send short Retry-After values.
    """

    def __init__(self, retry_after: str, after: int = 10**6) -> None:
        self.retry_after, self.after, self.calls = retry_after, after, 0

    def request(self, method, url, **kwargs) -> requests.Response:
        self.calls += 1
        response = requests.Response()
        response.url = url
        if self.calls > self.after:
            response.status_code, response._content = 200, b'{"ok": true}'
        else:
            response.status_code, response._content = 429, b'{"error": "rate_limited"}'
            response.headers["Retry-After"] = self.retry_after
        return response


def send(session, policy, sleeps):
    return send_with_retry(session, "POST", "http://registry.invalid/v1/x", path="/v1/x", policy=policy,
                           timeout=(1, 1), sleep=sleeps.append, service="registry")


def test_a_retry_after_of_an_hour_is_not_slept_but_left_for_the_next_run():
    sleeps: list[float] = []
    with pytest.raises(RegistryUnavailable, match=r"asked to retry after 3600 s, more than the 60 s") as err:
        send(Throttling("3600"), RetryPolicy(), sleeps)
    assert sleeps == [], "slept for a Retry-After beyond the cap"
    assert [a.outcome for a in err.value.attempts] == ["throttled"]


def test_short_retry_afters_are_honoured_within_the_total_budget():
    sleeps: list[float] = []
    answer = send(Throttling("2", after=3), RetryPolicy(), sleeps)
    assert answer.status == 200 and sleeps == [2, 2, 2]

    sleeps.clear()
    policy = RetryPolicy(max_total_wait_seconds=5)
    with pytest.raises(RegistryUnavailable, match=r"budget of one call"):
        send(Throttling("2"), policy, sleeps)
    assert sum(sleeps) <= 5 and sleeps == [2, 2]
