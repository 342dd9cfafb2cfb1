"""LRS/LMS pulls: a connection reset in the middle of a page is retried (real socket)."""

from __future__ import annotations

import pytest
import requests

from credsync.learning.http import MAX_ATTEMPTS, HttpTarget, get_json
from tests.unit.rawhttp import raw_server


def test_a_page_cut_mid_body_is_fetched_again_and_decoded_whole() -> None:
    page = {"statements": [{"id": str(n)} for n in range(50)], "more": ""}
    with raw_server(["short", "rst", "gzip_cut", "ok"], body=page) as server, requests.Session() as session:
        body, headers = get_json(session, HttpTarget(server.url + "/acme/xAPI/"), server.url + "/acme/xAPI/statements")
    assert body == page and headers["Content-Type"] == "application/json"
    assert server.count == 4


def test_resets_are_bounded() -> None:
    with (raw_server(["chunked_cut"]) as server, requests.Session() as session,
          pytest.raises(requests.exceptions.ChunkedEncodingError)):
        get_json(session, HttpTarget(server.url + "/"), server.url + "/statements")
    assert server.count == MAX_ATTEMPTS
