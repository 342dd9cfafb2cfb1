"""NotificationClient: signed notifications to the registry over the shared HTTP layer (plain, no Airflow).

Built by :meth:`credsync.hooks.registry.RegistryHook.notification_client` from the registry
Connection (the push's OAuth2 client; extra ``notification_secret`` signs), or from a URL in
tests. What is sent and why: :mod:`credsync.delivery.notifications`, docs/registry.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from credsync.hooks.transport import AccessDenied, Answer, HttpClient
from credsync.ingest.signed_webhooks import sign

SIGNATURE_HEADER = "X-Credsync-Signature"
NOTIFICATIONS_PATH = "/v1/notifications"


class NotificationClient:
    """Sends signed notifications to one registry through the shared HTTP layer (retries, auth, TLS).

    ``secret`` signs; ``clock`` gives the signing time (unix seconds).
    """

    def __init__(self, http: HttpClient, secret: str, *, path: str = NOTIFICATIONS_PATH,
                 clock: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ValueError("the registry notification secret is empty")
        self.http = http
        self._secret = secret
        self.path = path
        self.clock = clock

    def __repr__(self) -> str:  # never the secret
        return f"NotificationClient({self.http.endpoint.base_url}{self.path})"

    def send(self, event_id: str, body: bytes) -> Answer:
        """POST one notification; returns the final answer (any status but 429/5xx).

        Raises ServiceUnavailable past the retry budget and AccessDenied on 401/403 (the
        token or the signing secret is wrong: no single notification's fault).
        """
        # Signed once per logical request: the retries of one call resend the same bytes and stamp,
        # well inside the registry's 300 s window (the retry budget is shorter).
        headers = {"Content-Type": "application/json", "Idempotency-Key": event_id,
                   SIGNATURE_HEADER: sign(self._secret, body, int(self.clock()))}
        answer = self.http.call("POST", self.path, data=body, headers=headers)
        if answer.status in (401, 403):
            raise AccessDenied(f"registry POST {answer.url}: HTTP {answer.status}: the token or the "
                               f"notification secret is refused", answer.attempts, answer.status, answer.body)
        return answer
