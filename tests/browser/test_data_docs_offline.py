"""GX Data Docs read offline in a real browser: the index lists the validation, a failure looks failed (issue 15).

Opened straight from the file:// object store, as a person with the folder would; the browser has
no network (closed machine), so anything still loaded from a CDN would leave the page blank.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from selenium.webdriver.common.by import By

from .browser import screenshot
from .gates import SUITE
from .ui import wait

FAILED_ROW = ("rgb(253, 232, 232)", "rgba(253, 232, 232, 1)")


def before_content(driver, element) -> str:
    return driver.execute_script("return getComputedStyle(arguments[0], '::before').content", element)


def test_the_index_lists_the_validation_and_marks_it_failed(chromium, blocked_gate, docs_store) -> None:
    index = f"{docs_store}/{blocked_gate.tenant_id}/index.html"
    chromium.get(index)
    rows = wait(chromium, 30).until(lambda d: [r for r in d.find_elements(By.CSS_SELECTOR, "table tbody tr")
                                               if SUITE in r.text])
    screenshot(chromium, "data_docs_index_offline")
    text = " ".join(row.text for row in rows)
    assert SUITE in text, f"the index does not list the {SUITE} validation: {text!r}"
    icons = chromium.find_elements(By.CSS_SELECTOR, "table tbody i.fa-times")
    assert icons and "failed" in before_content(chromium, icons[0])
    assert not [s for s in chromium.find_elements(By.CSS_SELECTOR, "script[src], link[href]")
                if urlsplit(s.get_attribute("src") or s.get_attribute("href")).scheme in ("http", "https")]


def test_a_failed_expectation_is_marked_failed_and_a_passed_one_passed(chromium, blocked_gate) -> None:
    chromium.get(blocked_gate.data_docs_url)
    failed = wait(chromium, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "tr i.fa-times"))
    passed = chromium.find_elements(By.CSS_SELECTOR, "tr i.fa-check-circle")
    screenshot(chromium, "data_docs_failed_gate_offline")
    assert "failed" in before_content(chromium, failed[0])
    assert passed and "passed" in before_content(chromium, passed[0])
    row = failed[0].find_element(By.XPATH, "./ancestor::tr[1]")
    assert row.value_of_css_property("background-color") in FAILED_ROW
    assert "R003, R005" in row.text  # the offending records, by key
