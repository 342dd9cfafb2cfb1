"""A failed gate's task log in the Airflow UI: the verdict first, in words, with its way out (issue 15).

The task instance is real (tests/browser/real_run.py): a scheduler ran ``hris_delta_export`` twice
against the HRIS sandbox, and the second run's gate refused acme's batch because the HRIS marked
most of the workforce terminated (more than the gate's 50%: a broken feed). On-call opens the
failed task from the run, reads the paragraph at the top of its log, and follows its Data Docs link to the failure.
"""

from __future__ import annotations

import re
from pathlib import Path

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from credsync.warehouse import connect

from .browser import screenshot
from .real_run import TENANT, task_instances, task_log
from .ui import wait

ROOT = Path(__file__).resolve().parents[2]
LOG_LINES = '[data-testid="virtual-scroll-container"] [data-testid^="virtualized-item-"]'
GROUPS = '[data-testid="virtual-scroll-container"] [data-testid^="group-header-"]'
#: What Airflow itself wraps around every task's own output, collapsed in the UI.
AIRFLOW_GROUPS = ["Log message source details", "Pre Execute"]


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading (how docs/runbook.md is read)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lstrip("#").strip().lower())
    return text.replace(" ", "-")


def open_gate_log(driver, airflow, failed_gate) -> list:
    driver.get(airflow.url + failed_gate.ui_path)
    return wait(driver).until(lambda d: [line for line in d.find_elements(By.CSS_SELECTOR, LOG_LINES)
                                         if "GX gate" in line.get_attribute("textContent")] and
                              d.find_elements(By.CSS_SELECTOR, LOG_LINES))


def test_the_failed_gate_log_opens_with_the_verdict_paragraph(logged_in, airflow, failed_gate, oncall_warehouse):
    driver = logged_in
    lines = open_gate_log(driver, airflow, failed_gate)
    groups = [g.get_attribute("textContent").strip("▶▼ ").strip()
              for g in driver.find_elements(By.CSS_SELECTOR, GROUPS)]

    # At the top: the first line of the task's own output (after Airflow's collapsed preamble) is the verdict.
    assert groups[:2] == AIRFLOW_GROUPS, groups
    first = lines[0].get_attribute("textContent")
    assert "ERROR" in first and "GX gate hris_workers" in first, first
    # One paragraph: tenant, batch, the failed rule in words with counts and records, what to do, a link.
    terminated, current = len(failed_gate.terminated), failed_gate.current_workers
    assert f"tenant={TENANT} batch={failed_gate.batch_id}: BLOCKED" in first
    assert "checks failed: mass_termination. Nothing reached core." in first
    assert (f"{terminated} of {current} current workers ({100 * terminated / current:.1f}%) would be terminated, "
            "limit 50%") in first, first
    named = re.search(r"offending records, e\.g\. ([A-Z0-9, ]+)", first)
    assert named, first
    assert set(named.group(1).split(", ")) <= set(failed_gate.terminated)
    anchor = re.search(r"What to do: docs/runbook\.md#([\w-]+)", first)
    assert anchor, first
    headings = [github_anchor(h) for h in (ROOT / "docs" / "runbook.md").read_text().splitlines() if h.startswith("#")]
    assert anchor.group(1) in headings, f"runbook anchor #{anchor.group(1)} is no heading of docs/runbook.md"
    link = lines[0].find_element(By.PARTIAL_LINK_TEXT, "/credsync-ui/data-docs/")
    assert link.get_attribute("href").startswith(f"{airflow.url}/credsync-ui/data-docs/{TENANT}/validations/")
    assert f"Data Docs: {link.get_attribute('href')}" in first

    # The same verdict is stored on the batch.
    assert failed_gate.verdict in first
    with connect(oncall_warehouse) as conn:
        status = conn.execute("SELECT status FROM audit.batches WHERE batch_id = %s",
                              (failed_gate.batch_id,)).fetchone()
    assert status == ("rejected",)

    # GX's own INFO lines stay out: the whole task log is a screenful, not 262 lines.
    gate = next(ti for ti in task_instances(airflow, failed_gate.run_id)
                if ti["task_id"] == "export_tenant.gate" and ti["map_index"] == failed_gate.map_index)
    assert gate["state"] == "failed" and gate["rendered_map_index"] == TENANT, gate
    text = task_log(airflow, failed_gate.run_id, gate)
    assert len(text.splitlines()) < 60, text
    assert "great_expectations" not in text.replace("site-packages/great_expectations", "")

    ActionChains(driver).send_keys("w").perform()  # the log viewer's "wrap lines", so the screenshot shows it all
    screenshot(driver, "failed_gate_log")


def test_the_verdicts_data_docs_link_shows_the_failure(logged_in, airflow, failed_gate):
    driver = logged_in
    lines = open_gate_log(driver, airflow, failed_gate)
    link = lines[0].find_element(By.PARTIAL_LINK_TEXT, "/credsync-ui/data-docs/")
    log_window = driver.current_window_handle
    link.click()  # opens in a new tab (target=_blank), behind the same Airflow login
    try:
        wait(driver, 30).until(lambda d: len(d.window_handles) > 1)
        driver.switch_to.window(next(h for h in driver.window_handles if h != log_window))
        failed = wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "tr i.fa-times"))
        rows = [icon.find_element(By.XPATH, "./ancestor::tr[1]") for icon in failed]
        text = " ".join(row.text for row in rows)
        # The mass-termination rule, failed, with its count of offending records.
        assert "delta terminates at most 50% of the current workforce" in text, text
        assert str(len(failed_gate.terminated)) in text.split(), text
        assert "/credsync-ui/data-docs/acme/validations/hris_workers/" in driver.current_url
        screenshot(driver, "failed_gate_data_docs")
    finally:
        if driver.current_window_handle != log_window:
            driver.close()
        driver.switch_to.window(log_window)
