"""Retry timing and the config that drives it."""

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from credsync.delivery.config import DeliveryConfigError, RetryPolicy, load_delivery_settings
from credsync.delivery.http_retry import retry_after_seconds


def test_backoff_starts_at_half_a_second_doubles_and_caps_at_thirty():
    policy = RetryPolicy()
    assert [policy.backoff(n) for n in (1, 2, 3, 4, 7, 8, 20)] == [0.5, 1, 2, 4, 30, 30, 30]


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after_seconds("3") == 3
    in_ten = format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True)
    assert 8 <= retry_after_seconds(in_ten) <= 10
    assert retry_after_seconds(None) == 1 and retry_after_seconds("soon") == 1


def test_shipped_delivery_settings_load():
    settings = load_delivery_settings()
    assert settings.registry.batch_size == 100
    assert settings.registry.retry == RetryPolicy()
    assert settings.writeback.payroll_csv_dir.parts[-2:] == ("build", "payroll")


def test_invalid_settings_name_the_key(tmp_path):
    path = tmp_path / "delivery.yaml"
    path.write_text("registry:\n  batch_size: 500\n")
    with pytest.raises(DeliveryConfigError, match=r"registry\.batch_size 500"):
        load_delivery_settings(path)
    path.write_text("registry:\n  retry:\n    max_attempts: 0\n")
    with pytest.raises(DeliveryConfigError, match=r"registry\.retry\.max_attempts"):
        load_delivery_settings(path)
