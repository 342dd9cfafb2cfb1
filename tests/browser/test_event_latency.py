"""The dashboards' completion event path tiles and the event/pull table, in a real browser (issue 18).

The seeded week (tests/browser/seed.py) is all scheduled-pull deliveries. Here the last day's ten
credentials are marked as announced by completion events (their evidence names an LMS enrollment,
and an event for it arrived a minute after the completion): the page must show their p50/p95 to
the registry acknowledgement and the HRIS write-back as tiles, and the event path beside the pull
in a table, with the numbers the warehouse's own timestamps give.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from credsync.ui.charts import duration_unit
from credsync.warehouse import connect

from . import seed
from .browser import screenshot
from .test_dashboards import table
from .ui import wait

P50_P95 = ("SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.95) WITHIN GROUP (ORDER BY s),"
           " count(*) FROM unnest(%s::float8[]) AS s")


@pytest.fixture(scope="module")
def event_credentials(oncall_warehouse) -> dict[str, tuple[float, float, int]]:
    """Mark the last seeded day's credentials as event-announced; the expected (p50, p95, n) per stage."""
    last_day = seed.day_start(seed.DAYS - 1)
    with connect(oncall_warehouse) as conn:
        rows = conn.execute(
            "SELECT c.credential_id, c.employee_id, (c.evidence ->> 'met_at')::timestamptz, s.acknowledged_at,"
            " w.delivered_at FROM core.credentials c"
            " JOIN core.registry_submissions s ON s.credential_id = c.credential_id AND s.state = 'acknowledged'"
            " JOIN core.writebacks w ON w.credential_id = c.credential_id AND w.state = 'delivered'"
            " WHERE c.tenant_id = %s AND c.created_at >= %s AND c.created_at < %s",
            (seed.TENANT, last_day, last_day + timedelta(days=1))).fetchall()
        assert len(rows) == seed.PER_DAY
        for credential_id, employee, completed, _, _ in rows:
            enrollment = f"enr-{credential_id}"
            conn.execute("UPDATE core.credentials SET evidence_key = %s WHERE credential_id = %s",
                         (f"lms_rest:{enrollment}", credential_id))
            conn.execute(
                "INSERT INTO audit.lms_completion_events (tenant_id, event_id, enrollment_id, employee_id,"
                " course_code, occurred_at, received_at, body, status, outcome, processed_at)"
                " VALUES (%s, %s, %s, %s, 'FORKLIFT-200', %s, %s, '{}'::jsonb, 'processed', 'loaded', %s)",
                (seed.TENANT, f"ev-{credential_id}", enrollment, employee, completed,
                 completed + timedelta(minutes=1), completed + timedelta(minutes=2)))
        expected = {}
        for stage, column in (("registry ack", 3), ("HRIS write-back", 4)):
            seconds = [(row[column] - row[2]).total_seconds() for row in rows]
            expected[stage] = conn.execute(P50_P95, (seconds,)).fetchone()
        conn.commit()
    return expected


def test_event_path_tiles_and_table_show_the_warehouse_numbers(logged_in, airflow, event_credentials) -> None:
    driver = logged_in
    driver.get(f"{airflow.url}/credsync-ui/dashboards?tenant={seed.TENANT}")
    wait(driver).until(ec.presence_of_element_located((By.ID, "path-latency-data")))
    screenshot(driver, "dashboard_event_path")
    for stage, (p50, p95, count) in event_credentials.items():
        unit, size = duration_unit([p95])
        tile = driver.find_element(By.CSS_SELECTOR, f'[data-metric="event {stage} latency"]')
        assert tile.find_element(By.TAG_NAME, "b").text == f"p50 {p50 / size:.1f} {unit} · p95 {p95 / size:.1f} {unit}"
        assert f"{count} credentials" in tile.text
    rows = {(path, stage): (p50, p95, int(n)) for path, stage, p50, p95, n in table(driver, "path-latency-data")}
    assert rows[("event", "registry ack")][2] == seed.PER_DAY
    assert rows[("event", "HRIS write-back")][2] == seed.PER_DAY
    # The rest of the week stays on the pull path (the day with dead letters has 8 acknowledged).
    assert rows[("pull", "registry ack")][2] == (seed.DAYS - 1) * seed.PER_DAY - 2
    # The existing registry tile still counts every live delivery, whichever path made it.
    headline = driver.find_element(By.CSS_SELECTOR, '[data-metric="registry latency p95"] b').text
    assert headline == "54.2 minutes"
