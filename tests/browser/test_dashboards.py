"""The dashboards page in the Airflow UI, against a real api-server and the seeded warehouse (issue 15)."""

from __future__ import annotations

from datetime import UTC, datetime

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec

from credsync.warehouse import connect

from . import seed
from .browser import screenshot
from .ui import wait

CHARTS = ("delivery-success", "drift", "latency")


def table(driver, table_id: str) -> list[list[str]]:
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return [[cell.get_attribute("textContent").strip() for cell in row.find_elements(By.TAG_NAME, "td")]
            for row in rows]


def svg_texts(driver, chart: str) -> list[str]:
    return [t.get_attribute("textContent").strip()
            for t in driver.find_elements(By.CSS_SELECTOR, f"#{chart} svg text")]


def test_the_nav_entry_shows_the_charts_inside_the_airflow_ui(logged_in, airflow) -> None:
    driver = logged_in
    driver.get(f"{airflow.url}/plugin/credsync-dashboards")
    frame = wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "iframe")))
    driver.switch_to.frame(frame)
    try:
        wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#latency svg")))
        for chart in CHARTS:
            svg = driver.find_element(By.CSS_SELECTOR, f"#{chart} svg")
            size = svg.size
            assert size["width"] > 400 and size["height"] > 120, f"{chart}: rendered {size}"
            assert svg.find_elements(By.CSS_SELECTOR, "path"), f"{chart}: no lines drawn"
            # The chart has data: the values it plots, one row per day and series.
            values = {"delivery-success": "delivery-success-data", "drift": "drift-data", "latency": "latency-data"}
            rows = driver.find_elements(By.CSS_SELECTOR, f"#{values[chart]} tbody tr")
            assert len(rows) >= seed.DAYS, f"{chart}: {len(rows)} values"
    finally:
        driver.switch_to.default_content()
    screenshot(driver, "dashboard_in_airflow_ui")


def test_the_numbers_shown_are_the_warehouse_numbers(logged_in, airflow, oncall_warehouse) -> None:
    driver = logged_in
    driver.get(f"{airflow.url}/credsync-ui/dashboards?tenant={seed.TENANT}")
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#delivery-success svg")))
    screenshot(driver, "dashboard_acme")
    with connect(oncall_warehouse) as conn:
        expected = {(f"{day:%Y-%m-%d}", "registry"): (finished, ok) for day, finished, ok in conn.execute(
            "SELECT (coalesce(acknowledged_at, sent_at) AT TIME ZONE 'UTC')::date, count(*),"
            " count(*) FILTER (WHERE state = 'acknowledged') FROM core.registry_submissions"
            " WHERE tenant_id = %s GROUP BY 1", (seed.TENANT,))}
    shown = {(day, channel): (int(finished), int(ok), success)
             for day, channel, finished, ok, success in table(driver, "delivery-success-data")}
    registry = {key: value[:2] for key, value in shown.items() if key[1] == "registry"}
    assert registry == expected
    dead_day = f"{seed.day_start(seed.DEAD_DAY):%Y-%m-%d}"
    assert shown[(dead_day, "registry")][2] == "80.0%"
    assert {v[2] for k, v in shown.items() if k[1] == "registry" and k[0] != dead_day} == {"100.0%"}

    # Success axis 0-100 %; the time axis is this week, not years around a single point.
    ticks = svg_texts(driver, "delivery-success")
    assert "0%" in ticks and "100%" in ticks, ticks
    years = {t for t in ticks if t.isdigit() and len(t) == 4}
    assert years <= {str(datetime.now(UTC).year), str(seed.day_start(0).year)}, ticks

    # Latency in minutes (20..56 min after completion; the 400-day-old history is not counted).
    headline = driver.find_element(By.CSS_SELECTOR, '[data-metric="registry latency p95"] b').text
    assert headline == "54.2 minutes"
    assert "minutes" in svg_texts(driver, "latency")
    assert f"{seed.HISTORY} deliveries" in driver.find_element(By.ID, "latency-history").text

    drift = {(day, comparison): rate for day, comparison, _, _, rate in table(driver, "drift-data")}
    last_day = f"{seed.day_start(seed.DAYS - 1):%Y-%m-%d}"
    assert drift[(last_day, "hris_lms")] == "3.50%"
    # The talent marketplace: its events as a delivery channel, its reconciliation as a comparison
    # (the day's later run: 3 of 200 missing).
    acknowledged, dead = seed.MARKETPLACE_EVENTS
    assert shown[(last_day, "marketplace")] == (acknowledged + dead, acknowledged, "90.0%")
    assert drift[(last_day, "marketplace")] == "1.50%"
    dead = table(driver, "dead-letters")
    assert [row[:4] for row in dead] == [["acme", "registry", "registry_rejected_422", "2"]]


def test_findings_drill_down_lists_the_records(logged_in, airflow) -> None:
    driver = logged_in
    driver.get(f"{airflow.url}/credsync-ui/dashboards?tenant={seed.TENANT}")
    counts = {row[2]: row[6] for row in wait(driver).until(lambda d: table(d, "findings"))}
    assert counts == {"registry_missing": "3", "lms_user_inactive": "2"}
    driver.find_element(By.LINK_TEXT, "registry_missing").click()
    rows = wait(driver).until(lambda d: table(d, "finding-rows"))
    assert sorted(row[0] for row in rows) == [f"registry_missing-{i}" for i in range(3)]


def test_a_blocked_gate_links_its_data_docs_through_the_ui(logged_in, airflow, blocked_gate) -> None:
    driver = logged_in
    driver.get(f"{airflow.url}/credsync-ui/dashboards?tenant={seed.TENANT}")
    verdicts = wait(driver).until(lambda d: table(d, "verdicts"))
    # The seeded gate's batch (a real run's mass-termination batch may be listed too: test_failed_gate_log).
    blocked = [i for i, row in enumerate(verdicts) if row[3] == "blocked" and row[1] == "hris workers"
               and row[5] == "status_allowed"]
    assert blocked, verdicts
    rows = driver.find_elements(By.CSS_SELECTOR, "#verdicts tbody tr")
    rows[blocked[0]].find_element(By.LINK_TEXT, "Data Docs").click()
    wait(driver).until(lambda d: "/credsync-ui/data-docs/acme/validations/" in d.current_url)
    failed = wait(driver).until(lambda d: d.find_elements(By.CSS_SELECTOR, "i.fa-times"))
    assert failed, "the validation page marks no failed expectation"
    screenshot(driver, "data_docs_failed_gate_via_ui")


def test_a_tenant_without_data_shows_the_empty_state(logged_in, airflow) -> None:
    driver = logged_in
    driver.get(f"{airflow.url}/credsync-ui/dashboards?tenant=globex")
    message = wait(driver).until(ec.presence_of_element_located((By.ID, "empty-state"))).text
    assert "Nothing to show yet for globex" in message
    assert not driver.find_elements(By.CSS_SELECTOR, "svg")


def test_the_pages_need_an_airflow_login(airflow) -> None:
    import requests

    response = requests.get(f"{airflow.url}/credsync-ui/dashboards", timeout=30)
    assert response.status_code in (401, 403)
    assert airflow.api("GET", "/credsync-ui/dashboards").status_code == 200


SECONDS_PER = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}


def seconds(shown: str) -> float:
    value, unit = shown.split(" ", 1)
    return float(value) * SECONDS_PER[unit]


def test_the_latency_chart_shows_believable_p50_and_p95(logged_in, airflow) -> None:
    driver = logged_in
    driver.get(f"{airflow.url}/credsync-ui/dashboards?tenant={seed.TENANT}")
    wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#latency svg")))
    rows = table(driver, "latency-data")
    assert {channel for _, channel, *_ in rows} == {"registry", "HRIS write-back"}, rows
    for day, channel, p50, p95, deliveries in rows:
        # Numbers with a unit, p50 <= p95, within what an hourly pipeline can take: seconds to hours.
        assert 1 <= seconds(p50) <= seconds(p95) <= 24 * 3600, (day, channel, p50, p95)
        assert int(deliveries) > 0
    # The seed's numbers (tests/browser/seed.py): acknowledged 20..56 minutes after the completion.
    normal_day = f"{seed.day_start(0):%Y-%m-%d}"
    assert [r[2:4] for r in rows if r[0] == normal_day and r[1] == "registry"] == [["38.0 minutes", "54.2 minutes"]]
    # The chart: a value axis in the unit, numeric ticks spanning the largest p95, one line per percentile.
    texts = svg_texts(driver, "latency")
    assert "minutes" in texts
    y_axis = driver.find_elements(By.CSS_SELECTOR, '#latency svg g[id="matplotlib.axis_2"] text')
    labels = [e.get_attribute("textContent").strip() for e in y_axis]
    ticks = [float(t) for t in labels if t.replace(".", "", 1).isdigit()]
    largest = max(seconds(r[3]) for r in rows) / 60
    assert ticks and min(ticks) == 0 and max(ticks) <= largest * 1.5, (ticks, largest)
    assert {"registry p50", "registry p95", "HRIS write-back p50", "HRIS write-back p95"} <= set(texts), texts
    assert len(driver.find_elements(By.CSS_SELECTOR, "#latency svg path")) >= 4
