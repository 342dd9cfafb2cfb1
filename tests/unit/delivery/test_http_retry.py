"""The registry's retry settings: the one policy (include/http.yaml) with delivery.yaml's overrides."""

import pytest

from credsync.delivery.config import DeliveryConfigError, RetryPolicy, load_delivery_settings
from credsync.hooks.policy import Timeouts


def test_shipped_delivery_settings_load():
    settings = load_delivery_settings()
    assert settings.registry.batch_size == 100
    assert settings.registry.retry == RetryPolicy()
    options = settings.registry.client_options()
    assert options["timeouts"] == Timeouts(5, 10) and options["token_refresh_margin_seconds"] == 30


def test_registry_retry_overrides_only_the_keys_it_names(tmp_path):
    path = tmp_path / "delivery.yaml"
    path.write_text("registry:\n  retry:\n    max_attempts: 3\n")
    assert load_delivery_settings(path).registry.retry == RetryPolicy(max_attempts=3)


def test_invalid_settings_name_the_key(tmp_path):
    path = tmp_path / "delivery.yaml"
    path.write_text("registry:\n  batch_size: 500\n")
    with pytest.raises(DeliveryConfigError, match=r"registry\.batch_size 500"):
        load_delivery_settings(path)
    path.write_text("registry:\n  retry:\n    max_attempts: 0\n")
    with pytest.raises(DeliveryConfigError, match=r"registry\.retry\.max_attempts"):
        load_delivery_settings(path)
