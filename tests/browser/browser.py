"""Debian's chromium driven by selenium through chromedriver, headless and offline.

Missing browser: a local run skips the browser tests naming the Debian packages to install; under
CI (``CI`` set and not ``false``/``0``) it fails, so CI can never pass without them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PACKAGES = "chromium chromium-driver"
BROWSER = ("chromium", "/usr/bin/chromium")
DRIVER = ("chromedriver", "/usr/bin/chromedriver")
#: Where screenshots go (test artefacts; CI keeps build/).
ARTIFACTS = Path(__file__).resolve().parents[2] / "build" / "test-artifacts" / "browser"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000")


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI."""
    message = f"{reason}: the browser tests need Debian's {PACKAGES} (apt-get install -y {PACKAGES})"
    if in_ci():
        pytest.fail(message + " — CI must install them (.ci/run does)", pytrace=False)
    pytest.skip(message)


def _find(names: tuple[str, str]) -> str | None:
    found = shutil.which(names[0])
    return found or (names[1] if Path(names[1]).is_file() else None)


def start_chromium(profile_dir: Path):
    """A headless chromium with a fresh profile in ``profile_dir``."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed (requirements-dev.txt)")
    browser, driver = _find(BROWSER), _find(DRIVER)
    if not browser or not driver:
        unavailable(f"{'chromium' if not browser else 'chromedriver'} not found")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (*FLAGS, f"--user-data-dir={profile_dir}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


#: Screenshots this session wrote (the terminal summary names the folder when there are any).
WRITTEN: list[Path] = []


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    WRITTEN.append(path)
    return path
