"""Completion -> delivery latency counts live completions, not the age of history (issue 15).

The first demo report read "registry latency p95 17525.7 h": every credential of two years of
learning history, issued at the first sync, counted its completion's age as delivery latency.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from credsync.paths import sql_text
from credsync.warehouse import connect
from tests.browser import seed


@pytest.fixture
def seeded(fresh_warehouse_url):
    with connect(fresh_warehouse_url) as conn:
        seed.seed_deliveries(conn)
        conn.commit()
    return fresh_warehouse_url


def test_history_loaded_at_first_sync_is_not_a_delivery_latency(seeded) -> None:
    last_day = seed.day_start(seed.DAYS - 1)
    with connect(seeded) as conn:
        metrics = conn.execute(sql_text("recon/delivery_metrics.sql"), {
            "tenant_id": seed.TENANT, "window_start": last_day, "as_of": last_day + timedelta(days=1),
        }).fetchone()
    success, _, p50, p95, wb_p50, wb_p95 = (None if v is None else float(v) for v in metrics)
    # Ten live credentials acknowledged 20, 24, ..., 56 minutes after completion; three of history.
    assert success == 1.0
    assert p50 == pytest.approx(38 * 60)
    assert p95 == pytest.approx(54.2 * 60), f"registry p95 {p95 / 3600:.1f} h counts the history"
    assert wb_p50 == pytest.approx((38 + 30) * 60)
    assert wb_p95 == pytest.approx((54.2 + 30) * 60)
