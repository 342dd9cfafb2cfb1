"""Without Debian's chromium the browser tests skip locally and fail in CI (never a silent pass in CI)."""

from __future__ import annotations

import pytest

from . import browser


@pytest.fixture
def no_browser(monkeypatch, tmp_path):
    monkeypatch.setattr(browser, "BROWSER", ("credsync-no-such-chromium", str(tmp_path / "chromium")))
    monkeypatch.setattr(browser, "DRIVER", ("credsync-no-such-chromedriver", str(tmp_path / "chromedriver")))


def test_locally_a_missing_browser_skips_naming_the_debian_packages(no_browser, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y chromium chromium-driver"):
        browser.start_chromium(tmp_path / "profile")


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
def test_in_ci_a_missing_browser_fails(no_browser, monkeypatch, tmp_path, ci) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="CI must install them"):
        browser.start_chromium(tmp_path / "profile")
