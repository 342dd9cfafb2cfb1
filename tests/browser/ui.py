"""Steps a person takes in the Airflow UI, as selenium calls."""

from __future__ import annotations

from selenium.common.exceptions import NoSuchElementException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from .airflow_server import AirflowServer

WAIT = 90


def wait(driver, timeout: float = WAIT, *, while_navigating: bool = False) -> WebDriverWait:
    """``while_navigating``: the page is still redirecting (the SPA sends ``/`` on to its login page),
    so a lookup the navigation aborts ("Inspected target navigated or closed") is retried, not fatal."""
    ignored = (NoSuchElementException, WebDriverException) if while_navigating else None
    return WebDriverWait(driver, timeout, ignored_exceptions=ignored)


def login(driver, server: AirflowServer) -> None:
    """Sign in through the login form (SimpleAuthManager), landing on the home page."""
    driver.get(server.url + "/")
    user = wait(driver, while_navigating=True).until(ec.presence_of_element_located((By.NAME, "username")))
    user.send_keys(server.username)
    driver.find_element(By.NAME, "password").send_keys(server.password)
    button = driver.find_element(By.CSS_SELECTOR, "button[type=submit]")
    wait(driver).until(lambda _: button.is_enabled())
    button.click()
    wait(driver).until(lambda d: "/auth/login" not in d.current_url)
