"""Manual DAGs trigger from the UI's form with their defaults (issue 15: dlq_replay's button was disabled)."""

from __future__ import annotations

import contextlib

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from .browser import screenshot
from .ui import wait

TRIGGER = "//button[contains(normalize-space(), 'Trigger')]"


@pytest.mark.parametrize("dag_id", ["dlq_replay", "hris_delta_export"])
def test_the_trigger_form_with_its_defaults_triggers_a_run(logged_in, airflow, dag_id) -> None:
    driver = logged_in
    before = {r["dag_run_id"] for r in airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns").json()["dag_runs"]}
    driver.get(f"{airflow.url}/dags/{dag_id}")
    wait(driver).until(ec.element_to_be_clickable((By.XPATH, TRIGGER))).click()
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[role=dialog]")))
    # The form's own button comes after the page's Trigger button (the dialog renders in a portal).
    submit = wait(driver).until(lambda d: d.find_elements(By.XPATH, TRIGGER)[1:])[-1]
    # The form validates its fields as they render; give it a moment before judging the button.
    with contextlib.suppress(TimeoutException):
        wait(driver, 10).until(lambda _: submit.is_enabled())
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", submit)
    screenshot(driver, f"trigger_form_{dag_id}")
    assert submit.is_enabled(), f"{dag_id}: the Trigger button of the default form is disabled"
    submit.click()
    # A new run (a test before may have run this DAG already, tests/browser/real_run.py).
    runs = wait(driver).until(lambda _: [r for r in airflow.api("GET", f"/api/v2/dags/{dag_id}/dagRuns").json()[
        "dag_runs"] if r["dag_run_id"] not in before])
    assert len(runs) == 1 and runs[0]["run_type"] == "manual"
    if dag_id == "dlq_replay":
        assert runs[0]["conf"].get("dry_run") is True and runs[0]["conf"].get("reason") is None
