"""The statement sync's watermark and accounting rules, on statement lists (no LRS, no warehouse)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from credsync.learning.lrs_sync import LrsQueryFailed, LrsSyncPolicy, StatementSync, format_watermark

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def st(statement_id: str, stored: datetime, timestamp: datetime | str) -> dict:
    return {"id": statement_id, "stored": format_watermark(stored),
            "timestamp": timestamp if isinstance(timestamp, str) else format_watermark(timestamp)}


class Pull(list):
    def __init__(self, items, consistent_through=None):
        super().__init__(items)
        self.consistent_through = consistent_through


def sync(pulls: list, **kwargs) -> StatementSync:
    asked: list = []

    def open_pull(since):
        asked.append(since)
        return pulls[len(asked) - 1]

    result = StatementSync(open_pull, policy=kwargs.pop("policy", LrsSyncPolicy()), now=NOW, **kwargs)
    result.asked = asked
    return result


def test_overlap_and_watermark_is_the_lower_of_stored_and_timestamp() -> None:
    s = sync([Pull([st("a", NOW - timedelta(minutes=1), NOW - timedelta(hours=3)),
                    st("b", NOW - timedelta(minutes=2), NOW - timedelta(hours=2))])],
             watermark=format_watermark(NOW - timedelta(days=1)))
    assert [x["id"] for x in s] == ["a", "b"]
    assert s.asked == [format_watermark(NOW - timedelta(days=2))]  # 24 h lookback
    assert s.watermark == format_watermark(NOW - timedelta(hours=2))  # newest timestamp < newest stored
    assert s.stats.lateness_count == 2 and s.stats.lateness_max_s == pytest.approx(3 * 3600 - 60)


def test_future_timestamps_never_move_the_watermark_and_consistent_through_caps_it() -> None:
    s = sync([Pull([st("a", NOW - timedelta(minutes=1), "2999-01-01T00:00:00Z"),
                    st("b", NOW - timedelta(minutes=1), NOW - timedelta(minutes=10))],
                   consistent_through=NOW - timedelta(minutes=30))], watermark=None)
    assert len(list(s)) == 2
    assert s.stats.future_dated == 1
    assert s.watermark == format_watermark(NOW - timedelta(minutes=30))


def test_watermark_never_moves_back_and_skipped_ids_are_counted() -> None:
    before = format_watermark(NOW - timedelta(hours=1))
    pull = Pull([st("old", NOW - timedelta(hours=5), NOW - timedelta(hours=5)), st("bad", NOW, "2999-01-01T00:00:00Z")])
    pull.duplicates = 1  # the hook's pull dedupes within itself and says how many it dropped
    s = sync([pull], watermark=before, skip_ids=frozenset({"bad"}))
    assert [x["id"] for x in s] == ["old"]
    assert (s.stats.already_quarantined, s.stats.duplicates) == (1, 1)
    assert s.watermark == before


def test_reconciliation_keeps_only_ids_never_seen() -> None:
    incremental = Pull([st("new", NOW, NOW)])
    window = Pull([st("new", NOW, NOW), st("known", NOW, NOW - timedelta(days=5)),
                   st("lost", NOW, NOW - timedelta(days=40))])
    s = sync([incremental, window], watermark=format_watermark(NOW - timedelta(hours=1)),
             reconcile_since=format_watermark(NOW - timedelta(days=90)), known_ids=lambda ids: {"known"} & set(ids))
    assert [x["id"] for x in s] == ["new", "lost"]
    assert (s.stats.reconcile_listed, s.stats.reconcile_missing) == (3, 1)
    assert "reconcile_since=" in s.window_part


def test_an_lrs_error_names_the_lrs_the_query_and_what_to_do() -> None:
    def failing(since):
        raise RuntimeError("lrs GET http://lrs/xAPI/statements: gave up after 8 attempts; last: 500")

    s = StatementSync(failing, watermark=format_watermark(NOW), policy=LrsSyncPolicy(), lrs_name="LRS 'lrs_acme'")
    with pytest.raises(LrsQueryFailed, match=r"LRS 'lrs_acme': GET statements \(since=.*full_pull=true"):
        list(s)


def test_policy_from_connection_extra_and_params() -> None:
    policy = LrsSyncPolicy.from_settings({"lookback_hours": 48, "reconcile_window_days": 30},
                                         {"lookback_hours": None, "reconcile_every_days": 1})
    assert (policy.lookback, policy.reconcile_window, policy.reconcile_every) == (
        timedelta(hours=48), timedelta(days=30), timedelta(days=1))
    assert policy.since_for(None) is None


def test_overlap_drops_statements_already_in_the_warehouse_stored_before_the_last_pull() -> None:
    watermark = format_watermark(NOW - timedelta(hours=1))
    s = sync([Pull([st("old-known", NOW - timedelta(hours=3), NOW - timedelta(hours=3)),
                    st("old-new", NOW - timedelta(hours=3), NOW - timedelta(hours=9)),
                    st("fresh-known", NOW - timedelta(minutes=1), NOW - timedelta(minutes=2))])],
             watermark=watermark, known_ids=lambda ids: {"old-known", "fresh-known"} & set(ids))
    s.old_news_before = NOW - timedelta(minutes=30)
    assert [x["id"] for x in s] == ["old-new", "fresh-known"]  # a fresh store is staged (duplicate check)
    assert s.stats.already_merged == 1


def test_refused_credentials_are_named_as_such() -> None:
    class Denied(RuntimeError):
        status = 401

    def denied(since):
        raise Denied("lrs GET http://127.0.0.1:40317/xAPI/statements: 401 Unauthorized")

    with pytest.raises(LrsQueryFailed, match="login/password"):
        list(StatementSync(denied, watermark=None, policy=LrsSyncPolicy()))
    # A port or id that happens to contain 401 is not a refusal.
    with pytest.raises(LrsQueryFailed, match="full_pull=true"):
        list(StatementSync(lambda since: (_ for _ in ()).throw(RuntimeError("http://127.0.0.1:40317 500")),
                           watermark=None, policy=LrsSyncPolicy()))
