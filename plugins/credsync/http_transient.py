"""Which HTTP exceptions are transient transport failures, for every retry loop in credsync.

A connection can fail before the request is sent (refused, DNS, connect
timeout), while waiting for the answer (read timeout, reset before the status
line) or in the middle of the answer, after the status and headers arrived:
the peer closes or resets the socket, the body is shorter than its
``Content-Length``, a chunk is cut, or a compressed body breaks off. requests
reports the last kind as ``ChunkedEncodingError`` / ``ContentDecodingError``,
which are *not* ``requests.ConnectionError``; urllib3 raises ``ProtocolError``,
``IncompleteRead`` or ``DecodeError`` when the body is read through
``response.raw``. All of them mean the same: the answer was lost in transit
and the same request may succeed if sent again.

Not transient: a certificate that does not verify, a malformed URL, too many
redirects, a body that arrived whole but is not JSON. Retrying those only
repeats the failure.

Callers retry only requests that are idempotent by design (GET, PUT of a full
state, writes carrying an ``Idempotency-Key``); a create without a key looks
up before trying again. They must read the body inside the retried section,
or a reset during the download escapes the retry.
"""

from __future__ import annotations

import http.client
import ssl

import requests
from urllib3 import exceptions as urllib3_exceptions

_REQUESTS_TRANSIENT = (
    requests.exceptions.ConnectionError,  # refused, reset before the status line, proxy, connect timeout
    requests.exceptions.Timeout,  # connect and read timeouts
    requests.exceptions.ChunkedEncodingError,  # body cut: IncompleteRead, InvalidChunkLength, reset mid-body
    requests.exceptions.ContentDecodingError,  # a gzip/deflate body broken off mid-stream
)
_LOW_LEVEL_TRANSIENT = (
    urllib3_exceptions.ProtocolError,  # "Connection broken: ..." when reading response.raw
    urllib3_exceptions.DecodeError,
    urllib3_exceptions.TimeoutError,  # ReadTimeoutError, ConnectTimeoutError, NewConnectionError
    urllib3_exceptions.IncompleteRead,
    http.client.IncompleteRead,
    http.client.RemoteDisconnected,
    ConnectionError,  # builtin: ConnectionResetError, BrokenPipeError, ConnectionAbortedError, refused
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """True if ``exc`` is a transport failure worth sending the same (idempotent) request again."""
    if isinstance(exc, requests.exceptions.SSLError | urllib3_exceptions.SSLError):
        # A handshake cut by the network is transient; a certificate that does not verify is not.
        return not _caused_by(exc, ssl.SSLCertVerificationError)
    if isinstance(exc, urllib3_exceptions.MaxRetryError):
        return exc.reason is not None and is_transient(exc.reason)
    return isinstance(exc, _REQUESTS_TRANSIENT + _LOW_LEVEL_TRANSIENT)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    stack: list[object] = [exc]
    while stack:
        current = stack.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, kind):
            return True
        # requests and urllib3 wrap the ssl error in args or ``reason`` rather than chaining it.
        stack.extend((current.__cause__, current.__context__, getattr(current, "reason", None), *current.args))
    return False


__all__ = ["is_transient"]
