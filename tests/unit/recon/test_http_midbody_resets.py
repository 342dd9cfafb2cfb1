"""Reconciliation listings: a page cut mid-body is read again, not a failed reconciliation (real socket)."""

from __future__ import annotations

from credsync.hooks.hris import HrisClient
from credsync.hooks.policy import RetryPolicy
from credsync.recon import listings
from tests.unit.rawhttp import raw_server


def test_a_listing_page_cut_mid_body_is_fetched_again() -> None:
    page = {"data": [{"employee_id": f"E{n}", "credential_type": "cpr", "flag": "cpr_bonus", "active": True}
                     for n in range(100)], "next_cursor": None}
    policy = RetryPolicy(initial_seconds=0.01, max_seconds=0.01)
    with raw_server(["rst", "short", "ok"], body=page) as server:
        records = list(listings.hris_writebacks(HrisClient.for_url(server.url, "acme", "token", policy=policy)))
    assert len(records) == 200  # certifications and payroll flags, 100 each
    assert server.requests[:3] == [("GET", "/api/v1/tenants/acme/certifications?limit=500")] * 3
