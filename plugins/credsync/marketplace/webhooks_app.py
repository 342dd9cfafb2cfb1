"""The marketplace member webhook receiver over HTTP (FastAPI), and how Airflow serves it.

``POST /marketplace/{tenant_id}/webhooks`` with the raw signed body and the ``X-Marketplace-Timestamp``
and ``X-Marketplace-Signature`` headers (rules in :mod:`credsync.marketplace.webhooks`) answers:

- 202 ``accepted``: a new member.updated / member.deleted, recorded for the next marketplace_sync run;
- 200 ``already_processed``: the same event delivered again; nothing changes;
- 400 ``malformed`` (not JSON, a NUL, an unknown type, a missing field) / ``stale_timestamp``;
  401 ``bad_signature``; 404 ``unknown_tenant``; 409 ``replayed_with_different_body``; 413 ``too_large``;
- 503 ``schema_behind``: the warehouse is not at this code's schema revision; nothing recorded.

Like the HRIS receiver (:mod:`credsync.people.webhook_app`, whose body reading, answers, builder,
tolerance and secret lookup this reuses) an unsigned or declared-too-large request is answered
before its body is read. In Airflow the api-server serves it under ``/credsync-marketplace`` (see
``plugins/credsync_marketplace_webhooks_plugin.py``): the URL to register in the marketplace is
``<api-server>/credsync-marketplace/marketplace/<tenant>/webhooks``. There it reads Connection
``credsync_warehouse`` and the tenant's marketplace Connection (``marketplace_<tenant>``) extra
``webhook_secret``; env ``CREDSYNC_WEBHOOK_TOLERANCE_SECONDS`` / ``CREDSYNC_WEBHOOK_MAX_BODY_BYTES``
as for the HRIS receiver.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from credsync.marketplace.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    MarketplaceWebhookReceiver,
    check_headers,
    log_refusal,
)
from credsync.people.webhook_app import (
    checked_warehouse_url,
    max_body_bytes_from_env,
    read_signed_body,
    receive_in_threadpool,
    receiver_app,
    tenant_webhook_secret,
    tolerance_from_env,
)

URL_PREFIX = "/credsync-marketplace"
OUTCOME_STATUS = {"accepted": 202, "already_processed": 200}

ReceiverSource = MarketplaceWebhookReceiver | Callable[[], MarketplaceWebhookReceiver]


def create_app(receiver: ReceiverSource | None = None, *, max_body_bytes: int | None = None) -> FastAPI:
    """The receiver app; ``receiver`` (or a factory called on first use) defaults to :func:`airflow_receiver`."""
    app, get_receiver, limit = receiver_app("credsync marketplace webhooks", receiver or airflow_receiver,
                                            MarketplaceWebhookReceiver, max_body_bytes)

    @app.post("/marketplace/{tenant_id}/webhooks")
    async def marketplace_webhook(tenant_id: str, request: Request) -> JSONResponse:
        stamp, signature = request.headers.get(TIMESTAMP_HEADER), request.headers.get(SIGNATURE_HEADER)
        body = await read_signed_body(request, lambda: check_headers(stamp, signature), limit,
                                      lambda exc: log_refusal(tenant_id, exc))
        if isinstance(body, JSONResponse):
            return body
        receipt = await receive_in_threadpool(lambda: get_receiver().receive(tenant_id, body, stamp, signature),
                                              "marketplace webhook")
        if isinstance(receipt, JSONResponse):
            return receipt
        return JSONResponse({"status": receipt.outcome, "event_id": receipt.event_id},
                            status_code=OUTCOME_STATUS[receipt.outcome])

    return app


def airflow_receiver() -> MarketplaceWebhookReceiver:
    """The receiver as the api-server runs it: Connection secrets, the warehouse at this code's revision."""
    return MarketplaceWebhookReceiver(checked_warehouse_url("then the marketplace's next delivery is accepted"),
                                      secret_for=connection_secret, tolerance_seconds=tolerance_from_env(),
                                      max_body_bytes=max_body_bytes_from_env())


def connection_secret(tenant_id: str) -> str | None:
    """Extra ``webhook_secret`` of the tenant's marketplace Connection; None without a profile or secret."""
    from credsync.marketplace.profile import profile_of

    profile = profile_of(tenant_id)
    if profile is None:
        return None
    return tenant_webhook_secret(tenant_id, "marketplace", "marketplace webhooks", conn_id=profile.conn_id)
