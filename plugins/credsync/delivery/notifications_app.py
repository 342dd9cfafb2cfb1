"""The registry notification receiver over HTTP (FastAPI), and how Airflow serves it.

``POST /registry/{tenant_id}/notifications`` with the raw signed body and the
``X-Registry-Signature`` header (rules in :mod:`credsync.delivery.notifications_receiver`) answers:

- 202 ``applied``: a new acknowledgement or rejection, recorded on the notification;
- 200 ``already_processed`` (the same event again) or ``already_reviewed`` (a new event about a
  notification the registry decided on before: kept in the log, no change);
- 400 ``malformed`` / ``stale_timestamp``; 401 ``bad_signature``; 404 ``unknown_tenant`` or a
  notification credsync never sent; 409 ``replayed_with_different_body``; 413 ``too_large``;
- 503 ``schema_behind``: the warehouse is not at this code's schema revision; nothing recorded.

Like the HRIS receiver (:mod:`credsync.people.webhook_app`, whose body reading and answers this
reuses) an unsigned or declared-too-large request is answered before its body is read.

In Airflow the api-server serves it under ``/credsync-notifications`` (see
``plugins/credsync_registry_notifications_plugin.py``): the URL to give the registry is
``<api-server>/credsync-notifications/registry/<tenant>/notifications``. There it reads Connection
``credsync_warehouse`` and, per tenant of include/tenants.yaml, the tenant's registry Connection
(``connections.registry``, e.g. ``registry_national``) extra ``webhook_secret``; env
``CREDSYNC_WEBHOOK_TOLERANCE_SECONDS`` / ``CREDSYNC_WEBHOOK_MAX_BODY_BYTES`` as for the HRIS receiver.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from credsync.delivery.notifications_receiver import (
    SIGNATURE_HEADER,
    Outcome,
    RegistryNotificationReceiver,
    UnknownNotification,
)
from credsync.ingest.signed_webhooks import (
    Rejection,
    WebhookRejected,
    check_declared_length,
    check_signature_header,
    shown_tenant,
)
from credsync.people.webhook_app import (
    built_once,
    max_body_bytes_from_env,
    read_limited,
    rejection_response,
    tenant_webhook_secret,
    tolerance_from_env,
)
from credsync.warehouse.revision import SchemaMismatch

log = logging.getLogger(__name__)

URL_PREFIX = "/credsync-notifications"
OUTCOME_STATUS = {Outcome.APPLIED: 202, Outcome.ALREADY_PROCESSED: 200, Outcome.ALREADY_REVIEWED: 200}

ReceiverSource = RegistryNotificationReceiver | Callable[[], RegistryNotificationReceiver]


def create_app(receiver: ReceiverSource | None = None, *, max_body_bytes: int | None = None) -> FastAPI:
    """The receiver app; ``receiver`` (or a factory called on first use) defaults to :func:`airflow_receiver`."""
    from credsync.ingest.signed_webhooks import check_max_body_bytes

    get_receiver = built_once(receiver if receiver is not None else airflow_receiver, RegistryNotificationReceiver)
    limit = check_max_body_bytes(max_body_bytes) if max_body_bytes is not None else max_body_bytes_from_env()
    app = FastAPI(title="credsync registry notifications", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/registry/{tenant_id}/notifications")
    async def registry_notification(tenant_id: str, request: Request) -> JSONResponse:
        signature = request.headers.get(SIGNATURE_HEADER)
        try:
            check_signature_header(signature, SIGNATURE_HEADER)
            check_declared_length(request.headers.get("content-length"), limit)
            body = await read_limited(request.stream(), limit)
        except WebhookRejected as exc:
            log.warning("tenant %s: registry notification rejected (%s): %s", shown_tenant(tenant_id),
                        exc.reason.value, exc.detail)
            return rejection_response(exc, headers={"Connection": "close"})
        except ClientDisconnect:
            return JSONResponse({"status": "rejected", "reason": Rejection.MALFORMED.value,
                                 "detail": "the body was not complete"}, status_code=400)
        try:
            found = await run_in_threadpool(get_receiver)
            receipt = await run_in_threadpool(found.receive, tenant_id, body, signature)
        except UnknownNotification as exc:
            return JSONResponse({"status": "rejected", "reason": "unknown_notification", "detail": exc.detail},
                                status_code=404)
        except WebhookRejected as exc:
            return rejection_response(exc)
        except SchemaMismatch as exc:
            log.error("registry notification refused: %s", exc)
            return JSONResponse({"status": "unavailable", "reason": "schema_behind", "detail": str(exc)},
                                status_code=503, headers={"Retry-After": "300"})
        return JSONResponse({"status": receipt.outcome.value, "event_id": receipt.event_id,
                             "notification_event_id": receipt.notification_event_id},
                            status_code=OUTCOME_STATUS[receipt.outcome])

    return app


def airflow_receiver() -> RegistryNotificationReceiver:
    """The receiver as the api-server runs it: Connection secrets, the warehouse at this code's revision."""
    from credsync.warehouse import check_schema, url_from_connection

    url = url_from_connection()
    check_schema(url, where="warehouse (connection credsync_warehouse)",
                 then="then the registry's next delivery is accepted")
    return RegistryNotificationReceiver(url, secret_for=connection_secret, tolerance_seconds=tolerance_from_env(),
                                        max_body_bytes=max_body_bytes_from_env())


def connection_secret(tenant_id: str) -> str | None:
    """Extra ``webhook_secret`` of the tenant's registry Connection; None for an unknown tenant or none set."""
    return tenant_webhook_secret(tenant_id, "registry", "registry notifications")
