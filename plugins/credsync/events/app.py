"""The LMS completion webhook receiver over HTTP (FastAPI), and how Airflow serves it.

``POST /lms/{tenant_id}/completions`` with the raw signed body and the ``X-LMS-Signature``
header (rules in :mod:`credsync.events.receiver`) answers:

- 202 ``accepted``: a new event, committed to ``audit.lms_completion_events`` before the answer;
- 200 ``already_received``: the same event delivered again; recorded once;
- 400 ``malformed`` / ``stale_timestamp``; 401 ``bad_signature``; 404 ``unknown_tenant``;
  409 ``replayed_with_different_body``; 413 ``too_large``;
- 503 ``schema_behind``: the warehouse is not at this code's schema revision; nothing recorded.

The body is read under the same limits as the HRIS receiver (its reader and answers are
reused: an unsigned or declared-too-large request is refused before its body is read).

In Airflow the api-server serves it under ``/credsync-events`` (``plugins/credsync_events_plugin.py``),
so the URL to register in the LMS is ``<api-server>/credsync-events/lms/<tenant>/completions``.
It reads Connections ``credsync_warehouse``, per tenant ``lms_<tenant>`` extra ``webhook_secret``
(none: 404), and ``credsync_redis`` for the wake-up (:mod:`credsync.events.wakeup`); env
``CREDSYNC_WEBHOOK_TOLERANCE_SECONDS`` and ``CREDSYNC_WEBHOOK_MAX_BODY_BYTES`` as for the HRIS.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from credsync.events.receiver import SIGNATURE_HEADER, CompletionReceiver, Outcome, log_rejection
from credsync.ingest import signed_webhooks as signed
from credsync.ingest.signed_webhooks import Rejection, WebhookRejected
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

OUTCOME_STATUS = {Outcome.ACCEPTED: 202, Outcome.ALREADY_RECEIVED: 200}
ReceiverSource = CompletionReceiver | Callable[[], CompletionReceiver]


def create_app(receiver: ReceiverSource | None = None, *, max_body_bytes: int | None = None) -> FastAPI:
    """The receiver app; ``receiver`` (or a factory called on first use) defaults to :func:`airflow_receiver`."""
    get_receiver = built_once(receiver if receiver is not None else airflow_receiver, CompletionReceiver)
    limit = signed.check_max_body_bytes(max_body_bytes) if max_body_bytes is not None else max_body_bytes_from_env()
    app = FastAPI(title="credsync LMS completion events", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/lms/{tenant_id}/completions")
    async def lms_completion(tenant_id: str, request: Request) -> JSONResponse:
        signature = request.headers.get(SIGNATURE_HEADER)
        try:
            signed.check_signature_header(signature, SIGNATURE_HEADER)
            signed.check_declared_length(request.headers.get("content-length"), limit)
            body = await read_limited(request.stream(), limit)
        except WebhookRejected as exc:
            log_rejection(tenant_id, exc)
            return rejection_response(exc, headers={"Connection": "close"})
        except ClientDisconnect:
            return JSONResponse({"status": "rejected", "reason": Rejection.MALFORMED.value,
                                 "detail": "the body was not complete"}, status_code=400)
        try:
            found = await run_in_threadpool(get_receiver)
            receipt = await run_in_threadpool(found.receive, tenant_id, body, signature)
        except WebhookRejected as exc:
            return rejection_response(exc)
        except SchemaMismatch as exc:
            log.error("LMS completion webhook refused: %s", exc)
            return JSONResponse({"status": "unavailable", "reason": "schema_behind", "detail": str(exc)},
                                status_code=503, headers={"Retry-After": "300"})
        return JSONResponse({"status": receipt.outcome.value, "event_id": receipt.event_id},
                            status_code=OUTCOME_STATUS[receipt.outcome])

    return app


def airflow_receiver() -> CompletionReceiver:
    """The receiver as the api-server runs it: Connections for the secrets, Redis for the wake-up."""
    from credsync.events.wakeup import connection_waker
    from credsync.warehouse import check_schema, url_from_connection

    url = url_from_connection()
    check_schema(url, where="warehouse (connection credsync_warehouse)",
                 then="then the sender's next delivery is accepted")
    return CompletionReceiver(url, secret_for=lms_connection_secret, wake=connection_waker(),
                              tolerance_seconds=tolerance_from_env(), max_body_bytes=max_body_bytes_from_env())


def lms_connection_secret(tenant_id: str) -> str | None:
    """Extra ``webhook_secret`` of the tenant's LMS Connection (``lms_<tenant>``); None when unset."""
    return tenant_webhook_secret(tenant_id, "lms", "LMS completion events")
