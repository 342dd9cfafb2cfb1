"""The one predicate every retry loop uses: mid-response resets are transient, configuration errors are not."""

from __future__ import annotations

import http.client
import json
import ssl

import pytest
import requests
import urllib3
from urllib3 import exceptions as u3

from credsync.http_transient import is_transient
from tests.unit.rawhttp import raw_server

CUTS = ["short", "rst", "chunked_cut", "gzip_cut"]


@pytest.mark.parametrize("mode", CUTS)
@pytest.mark.parametrize("stream", [False, True])
def test_a_body_cut_on_a_real_socket_is_transient_through_requests(mode: str, stream: bool) -> None:
    with raw_server([mode]) as server, pytest.raises(requests.RequestException) as caught:
        requests.get(server.url + "/page", timeout=5, stream=stream).content  # noqa: B018 - reads the body
    assert not isinstance(caught.value, requests.ConnectionError), "the case that slipped past the old retries"
    assert is_transient(caught.value)


@pytest.mark.parametrize("mode", CUTS)
def test_a_body_cut_read_through_urllib3_is_transient(mode: str) -> None:
    with raw_server([mode]) as server, pytest.raises(u3.HTTPError) as caught:
        urllib3.PoolManager().request("GET", server.url + "/page", preload_content=False).read()
    assert is_transient(caught.value)


@pytest.mark.parametrize("exc", [
    requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead(10 bytes read)"),
    requests.exceptions.ContentDecodingError("failed to decode"),
    requests.exceptions.ConnectionError("refused"),
    requests.exceptions.ReadTimeout("read timed out"),
    requests.exceptions.SSLError(ssl.SSLEOFError(8, "EOF occurred in violation of protocol")),
    u3.ProtocolError("Connection broken", ConnectionResetError(104, "reset")),
    u3.IncompleteRead(10, 90),
    u3.DecodeError("bad gzip"),
    u3.MaxRetryError(None, "/x", u3.NewConnectionError(None, "refused")),
    http.client.IncompleteRead(b"partial", 90),
    http.client.RemoteDisconnected("closed"),
    ConnectionResetError(104, "Connection reset by peer"),
    BrokenPipeError(32, "Broken pipe"),
])
def test_transport_failures_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [
    requests.exceptions.InvalidURL("bad url"),
    requests.exceptions.MissingSchema("no scheme"),
    requests.exceptions.TooManyRedirects("loop"),
    requests.exceptions.SSLError(ssl.SSLCertVerificationError(1, "certificate verify failed")),
    requests.exceptions.JSONDecodeError("Expecting value", "", 0),
    json.JSONDecodeError("Expecting value", "", 0),
    ValueError("not transport"),
    PermissionError(13, "denied"),
])
def test_configuration_and_content_errors_are_not_transient(exc: BaseException) -> None:
    assert not is_transient(exc)
