"""Reconciliation listings: a page cut mid-body is read again, not a failed reconciliation (real socket)."""

from __future__ import annotations

import requests

from credsync.recon.listings import _get_json
from tests.unit.rawhttp import raw_server


def test_a_listing_page_cut_mid_body_is_fetched_again() -> None:
    page = {"data": [{"employee_id": f"E{n}"} for n in range(100)], "next_cursor": None}
    with raw_server(["rst", "short", "ok"], body=page) as server, requests.Session() as session:
        assert _get_json(session, server.url + "/api/v1/tenants/acme/certifications", {"limit": 500},
                         "token", "HRIS") == page
    assert server.count == 3
