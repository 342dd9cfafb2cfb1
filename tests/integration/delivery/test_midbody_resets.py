"""Registry pushes, registry listings and HRIS write-backs while the sandboxes cut 20% of answers mid-body
(the write is applied, status and headers sent, the body cut short): exactly once, and a rerun sends nothing."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import date

import pytest

from credsync.delivery.push import push_submissions
from credsync.delivery.writeback import sync_writebacks
from credsync.hooks import hris as hris_hook
from credsync.recon import listings
from credsync.warehouse import connect
from tests.integration.delivery.conftest import TEST_SETTINGS
from tests.integration.delivery.helpers import admin, put_hris_workers, seed_credentials

pytestmark = pytest.mark.slow
RESETS = 0.2
SMALL_BATCHES = replace(TEST_SETTINGS, batch_size=10)  # 30 batch requests, so several answers are cut


def cut_attempts(url: str, table: str) -> int:
    with connect(url) as conn:
        return conn.execute(f"SELECT count(*) FROM {table} WHERE outcome = 'connection_error'").fetchone()[0]


@pytest.mark.parametrize("seed", [1, 2])
def test_push_and_listing_under_resets_register_each_credential_once(
        fresh_warehouse_url, registry_url, registry_client, seed: int) -> None:
    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 300)
    admin(registry_url, "PUT", "/admin/faults", {"reset_rate": RESETS, "seed": seed})
    try:
        result = push_submissions(fresh_warehouse_url, "acme", registry_client, settings=SMALL_BATCHES)
        rerun = push_submissions(fresh_warehouse_url, "acme", registry_client, settings=SMALL_BATCHES)
        faulted_listing = list(registry_client.list_certificates("acme"))
    finally:
        admin(registry_url, "DELETE", "/admin/faults")

    assert result.acknowledged == 300 and result.dead == 0 and result.remaining == 0
    assert rerun.acknowledged == 0 and rerun.remaining == 0
    assert cut_attempts(fresh_warehouse_url, "core.registry_attempts") > 0, "no answer was cut"
    listing = list(registry_client.list_certificates("acme"))
    keys = Counter((c["learner_id"], c["credential_type"], c["credential_version"]) for c in listing)
    assert len(listing) == 300 and max(keys.values()) == 1, "the registry holds a duplicate"
    assert sorted(c["id"] for c in faulted_listing) == sorted(c["id"] for c in listing)


def test_writeback_and_its_listing_under_resets_deliver_every_flag_once_and_rerun_sends_nothing(
        fresh_warehouse_url, hris_url, hris_client, tmp_path, monkeypatch) -> None:
    with connect(fresh_warehouse_url) as conn:
        seed_credentials(conn, "acme", 60, pay_impact=True)
    put_hris_workers(hris_url, "acme", [f"E{n:06d}" for n in range(1, 61)])
    cuts = Counter()
    send = hris_client.put

    def counting_put(*args, **kwargs):
        answer = send(*args, **kwargs)
        cuts.update(a.outcome for a in answer.attempts)
        return answer

    hris_client.put = counting_put
    admin(hris_url, "PUT", "/admin/faults", {"reset_rate": RESETS, "seed": 4})
    try:
        first = sync_writebacks(fresh_warehouse_url, "acme", hris_client, as_of=date(2026, 3, 2), payroll_dir=tmp_path)
        again = sync_writebacks(fresh_warehouse_url, "acme", hris_client, as_of=date(2026, 3, 2), payroll_dir=tmp_path)
        # The reconciliation listing of the same HRIS, in pages of 10 so that several are cut.
        monkeypatch.setattr(hris_hook, "LISTING_PAGE_SIZE", 10)
        faulted_listing = [list(listings.hris_writebacks(hris_client)) for _ in range(3)]
    finally:
        admin(hris_url, "DELETE", "/admin/faults")

    assert cuts["connection_error"] > 0, "no answer was cut: the test proves nothing"
    assert (first.delivered, first.dead, first.pending) == (120, 0, 0)  # a profile line and a flag each
    assert (again.delivered, again.unchanged) == (0, 120)
    clean = list(listings.hris_writebacks(hris_client))
    assert Counter(w.target for w in clean) == {"hris_profile": 60, "payroll_flag": 60}
    assert all(sorted(run) == sorted(clean) for run in faulted_listing)
