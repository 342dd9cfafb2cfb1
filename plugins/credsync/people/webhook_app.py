"""The HRIS webhook receiver over HTTP (FastAPI), and how Airflow serves it.

``POST /hris/{tenant_id}/webhooks`` with the raw signed body and the
``X-HRIS-Signature`` header (rules in :mod:`credsync.people.webhooks`) answers:

- 202 ``accepted``: a new event, recorded, and a run triggered to pick it up;
- 200 ``already_processed``: the same event delivered again; nothing triggered;
- 400 ``malformed`` / ``stale_timestamp``; 401 ``bad_signature``;
  404 ``unknown_tenant``; 409 ``replayed_with_different_body``;
  413 ``too_large``: the body is over the limit (64 KiB unless configured);
- 503 ``trigger_failed``: recorded, but no run could be triggered; delivering
  the event again retries (the hourly schedule is the safety net).
- 503 ``schema_behind``: the warehouse is not at the schema revision this code
  expects (the deploy step ``python -m credsync.warehouse migrate`` has not run);
  nothing recorded, the sender's retry is accepted once it has.

The receiver runs inside the api-server and answers senders it has not
authenticated yet, so it never holds more than the limit of any request: a
missing or unreadable signature header is answered 401 and a Content-Length
over the limit 413 before a byte of the body is read; a body without
Content-Length (chunked) is read in the server's chunks and answered 413 as
soon as it passes the limit, without reading the rest. Those early answers
carry ``Connection: close``, so the server drops the connection rather than
drain what the sender still sends. Only then is the HMAC checked, and only a
body whose HMAC matches is parsed as JSON.

In Airflow the api-server serves it under ``/credsync`` (see
``plugins/credsync_webhooks_plugin.py``), so the URL to register in the HRIS is
``<api-server>/credsync/hris/<tenant>/webhooks``. There the receiver reads the
Connections ``credsync_warehouse`` and, per tenant of include/tenants.yaml,
``hris_<tenant>`` extra ``webhook_secret`` (a tenant without one is answered
404); env ``CREDSYNC_WEBHOOK_TOLERANCE_SECONDS`` overrides the 300 s window and
env ``CREDSYNC_WEBHOOK_MAX_BODY_BYTES`` the 64 KiB body limit (1 KiB to 1 MiB). An
accepted event triggers a ``hris_delta_export`` run (a ``worker.erasure_requested`` one an
``erasure`` run instead, docs/governance.md); its merge updates the
``core.workers`` asset, on which ``scim_provisioning`` is scheduled, so a
terminated worker's LMS account is deactivated within minutes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from credsync.people.webhooks import (
    DEFAULT_TOLERANCE_SECONDS,
    MAX_BODY_BYTES,
    SIGNATURE_HEADER,
    Outcome,
    Rejection,
    WebhookEvent,
    WebhookReceiver,
    WebhookRejected,
    check_declared_length,
    check_max_body_bytes,
    check_signature_header,
    log_rejection,
)
from credsync.warehouse.revision import SchemaMismatch

log = logging.getLogger(__name__)

HRIS_EXPORT_DAG_ID = "hris_delta_export"
ERASURE_DAG_ID = "erasure"  # dags/erasure.py (credsync.governance.erasure_flow)
ERASURE_EVENT = "worker.erasure_requested"
TOLERANCE_ENV = "CREDSYNC_WEBHOOK_TOLERANCE_SECONDS"
MAX_BODY_ENV = "CREDSYNC_WEBHOOK_MAX_BODY_BYTES"
SECRET_EXTRA = "webhook_secret"  # noqa: S105 - the name of the extra field, not a secret

REJECTION_STATUS = {
    Rejection.MALFORMED: 400,
    Rejection.STALE_TIMESTAMP: 400,
    Rejection.BAD_SIGNATURE: 401,
    Rejection.UNKNOWN_TENANT: 404,
    Rejection.REPLAYED_WITH_DIFFERENT_BODY: 409,
    Rejection.TOO_LARGE: 413,
}
OUTCOME_STATUS = {Outcome.ACCEPTED: 202, Outcome.ALREADY_PROCESSED: 200, Outcome.TRIGGER_FAILED: 503}
_RUN_ID_SAFE = re.compile(r"^[A-Za-z0-9_.~:+-]+$")  # Airflow's default allowed_run_id_pattern

ReceiverSource = WebhookReceiver | Callable[[], WebhookReceiver]
R = TypeVar("R")  # a receiver type


def create_app(receiver: ReceiverSource | None = None, *, max_body_bytes: int | None = None) -> FastAPI:
    """The receiver app; ``receiver`` (or a factory called on first use) defaults to :func:`airflow_receiver`.

    ``max_body_bytes`` is the most of a request body the app reads (default env
    ``CREDSYNC_WEBHOOK_MAX_BODY_BYTES``, else 64 KiB); an invalid value fails here,
    when the plugin loads, rather than on the first webhook.
    """
    app, get_receiver, limit = receiver_app("credsync HRIS webhooks", receiver or airflow_receiver, WebhookReceiver,
                                            max_body_bytes)

    @app.post("/hris/{tenant_id}/webhooks")
    async def hris_webhook(tenant_id: str, request: Request) -> JSONResponse:
        signature = request.headers.get(SIGNATURE_HEADER)
        body = await read_signed_body(request, lambda: check_signature_header(signature), limit,
                                      lambda exc: log_rejection(tenant_id, exc))
        if isinstance(body, JSONResponse):
            return body
        receipt = await receive_in_threadpool(lambda: get_receiver().receive(tenant_id, body, signature),
                                              "HRIS webhook")
        if isinstance(receipt, JSONResponse):
            return receipt
        answer = {"status": receipt.outcome.value, "event_id": receipt.event_id,
                  "triggered_run": receipt.triggered_run}
        headers = {"Retry-After": "60"} if receipt.outcome is Outcome.TRIGGER_FAILED else None
        return JSONResponse(answer, status_code=OUTCOME_STATUS[receipt.outcome], headers=headers)

    return app


def receiver_app(title: str, receiver: R | Callable[[], R], kind: type[R],
                 max_body_bytes: int | None) -> tuple[FastAPI, Callable[[], R], int]:
    """A signed receiver's app (no docs routes), its receiver built on first use, and its body limit.

    ``max_body_bytes`` defaults to env ``CREDSYNC_WEBHOOK_MAX_BODY_BYTES``; an invalid value fails
    here, when the plugin loads, rather than on the first webhook.
    """
    limit = check_max_body_bytes(max_body_bytes) if max_body_bytes is not None else max_body_bytes_from_env()
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None)
    return app, built_once(receiver, kind), limit


async def receive_in_threadpool(receive: Callable[[], R], what: str) -> R | JSONResponse:
    """``receive()`` (build the receiver, verify, record) off the event loop; a refusal as its answer.

    A :class:`WebhookRejected` is answered with its status; a warehouse behind this code's schema
    with 503 ``schema_behind``: nothing recorded, the sender retries, and once migrated the receiver
    is built on the next delivery. Shared by the HRIS and marketplace receivers.
    """
    try:
        return await run_in_threadpool(receive)
    except WebhookRejected as exc:
        return rejection_response(exc)
    except SchemaMismatch as exc:
        log.error("%s refused: %s", what, exc)
        return JSONResponse({"status": "unavailable", "reason": "schema_behind", "detail": str(exc)},
                            status_code=503, headers={"Retry-After": "300"})


async def read_signed_body(request: Request, check_headers: Callable[[], None], max_body_bytes: int,
                           log_refusal: Callable[[WebhookRejected], None]) -> bytes | JSONResponse:
    """The raw body of a signed delivery, or the answer that refuses it before the HMAC is checked.

    ``check_headers`` raises :class:`WebhookRejected` for a missing or unreadable signature: from the
    headers alone, an unsigned or declared-too-large request costs no body read. Shared by every
    signed receiver (HRIS webhooks, marketplace webhooks).
    """
    try:
        check_headers()
        check_declared_length(request.headers.get("content-length"), max_body_bytes)
        # The signature covers the raw bytes, so read them before anything parses the body.
        return await read_limited(request.stream(), max_body_bytes)
    except WebhookRejected as exc:
        log_refusal(exc)
        # The rest of the body may still be on its way: close rather than read it to reuse the connection.
        return rejection_response(exc, headers={"Connection": "close"})
    except ClientDisconnect:
        log.info("signed webhook: the sender disconnected before its body was complete")
        return JSONResponse({"status": "rejected", "reason": Rejection.MALFORMED.value,
                             "detail": "the body was not complete"}, status_code=400)


async def read_limited(chunks: AsyncIterator[bytes], max_body_bytes: int) -> bytes:
    """The body from ``chunks``; ``too_large`` as soon as it passes ``max_body_bytes``, the rest unread.

    Holds at most ``max_body_bytes`` plus one chunk of the server's (uvicorn
    hands the body over in pieces of tens of KiB and stops reading the socket
    while the app does not take them).
    """
    body = bytearray()
    async for chunk in chunks:
        if len(body) + len(chunk) > max_body_bytes:
            raise WebhookRejected(Rejection.TOO_LARGE, f"body is larger than {max_body_bytes} bytes")
        body += chunk
    return bytes(body)


def rejection_response(rejected: WebhookRejected, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"status": "rejected", "reason": rejected.reason.value, "detail": rejected.detail},
                        status_code=REJECTION_STATUS[rejected.reason], headers=headers)


def max_body_bytes_from_env() -> int:
    """Env ``CREDSYNC_WEBHOOK_MAX_BODY_BYTES`` (1024 to 1048576), or 64 KiB when unset."""
    raw = os.environ.get(MAX_BODY_ENV, "").strip()
    if not raw:
        return MAX_BODY_BYTES
    try:
        return check_max_body_bytes(int(raw))
    except ValueError as exc:
        raise ValueError(f"{MAX_BODY_ENV}: {exc}" if raw.isdigit() else
                         f"{MAX_BODY_ENV} must be a number of bytes, got {raw!r}") from None


def airflow_receiver() -> WebhookReceiver:
    """The receiver as the Airflow api-server runs it: Connections for secrets, DAG runs as the trigger.

    Reads Connection ``credsync_warehouse`` and env ``CREDSYNC_WEBHOOK_TOLERANCE_SECONDS``
    and ``CREDSYNC_WEBHOOK_MAX_BODY_BYTES``. The api-server runs as the runtime role
    and never migrates: a warehouse not at this code's schema revision raises
    :class:`SchemaMismatch`, answered 503 until the deploy step has run.
    """
    url = checked_warehouse_url("then the sender's next delivery is accepted")
    return WebhookReceiver(url, secret_for=connection_secret, trigger=trigger_for_event,
                           tolerance_seconds=tolerance_from_env(), max_body_bytes=max_body_bytes_from_env())


def checked_warehouse_url(then: str) -> str:
    """The URL of Connection ``credsync_warehouse``, once the warehouse is at this code's revision.

    The api-server runs as the runtime role and never migrates: otherwise :class:`SchemaMismatch`
    (answered 503 by :func:`receive_in_threadpool`), its message ending in ``then``.
    """
    from credsync.warehouse import check_schema, url_from_connection

    url = url_from_connection()
    check_schema(url, where="warehouse (connection credsync_warehouse)", then=then)
    return url


def tolerance_from_env() -> float:
    """Env ``CREDSYNC_WEBHOOK_TOLERANCE_SECONDS`` (the signed timestamp's window), or 300 s when unset.

    Shared by every signed receiver credsync serves (HRIS webhooks, LMS completion events, registry
    notifications)."""
    raw = os.environ.get(TOLERANCE_ENV, "").strip()
    try:
        return float(raw) if raw else DEFAULT_TOLERANCE_SECONDS
    except ValueError:
        raise ValueError(f"{TOLERANCE_ENV} must be a number of seconds, got {raw!r}") from None


def connection_secret(tenant_id: str) -> str | None:
    """The tenant's webhook secret: extra ``webhook_secret`` of its HRIS Connection (``hris_<tenant>``).

    None when the tenant is not an enabled tenant of include/tenants.yaml, or
    its Connection is missing or has no secret (the receiver answers 404).
    """
    return tenant_webhook_secret(tenant_id, "hris", "HRIS webhooks")


def tenant_webhook_secret(tenant_id: str, role: str, deliveries: str, *, conn_id: str | None = None) -> str | None:
    """Extra ``webhook_secret`` of the Connection ``tenant_id`` uses for ``role`` (hris, lms, registry).

    ``conn_id`` names the Connection where it is not one of the tenant's ``connections`` (the
    marketplace's is in its profile). None when the tenant is not an enabled tenant, or the Connection
    is missing, unreadable or has no secret: the receiver then answers 404 to ``deliveries`` of that tenant.
    """
    from airflow.sdk import BaseHook

    from credsync.tenants import load_tenants

    tenant = next((t for t in load_tenants() if t.tenant_id == tenant_id), None)
    if tenant is None:
        return None
    conn_id = conn_id or tenant.conn_id(role)
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception as exc:  # AirflowNotFoundException, or a secrets backend failing
        log.error("tenant %s: cannot read connection %s for the webhook secret: %s", tenant_id, conn_id,
                  type(exc).__name__)
        return None
    secret = (conn.extra_dejson or {}).get(SECRET_EXTRA)
    if not isinstance(secret, str) or not secret:
        log.warning("tenant %s: connection %s has no extra %r; %s are refused", tenant_id, conn_id,
                    SECRET_EXTRA, deliveries)
        return None
    return secret


def trigger_for_event(event: WebhookEvent) -> str:
    """An erasure request starts an ``erasure`` run; any other event a ``hris_delta_export`` run."""
    if event.type == ERASURE_EVENT:
        return trigger_erasure(event)
    return trigger_hris_delta_export(event)


def trigger_erasure(event: WebhookEvent) -> str:
    """Queue the ``erasure`` run for a recorded erasure request; returns its run id (one run per event).

    The conf names the tenant and the event only: the run reads the employee id from the recorded
    event (which the erasure then rewrites), so it never sits in Airflow's dag_run table.
    """
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagRunAlreadyExists
    from airflow.utils.types import DagRunTriggeredByType

    run_id = webhook_run_id(event).replace("hris_webhook__", "hris_erasure__", 1)
    try:
        run = trigger_dag(ERASURE_DAG_ID, run_id=run_id,
                          conf={"hris_erasure": {"tenant_id": event.tenant_id, "event_id": event.event_id}},
                          triggered_by=DagRunTriggeredByType.REST_API, triggering_user_name="hris-webhook",
                          note=f"HRIS erasure request for tenant {event.tenant_id} (event {event.event_id})")
    except DagRunAlreadyExists:
        return run_id
    if run is None:
        raise RuntimeError(f"{ERASURE_DAG_ID}: no run was created")
    return run.run_id


def trigger_hris_delta_export(event: WebhookEvent) -> str:
    """Queue a ``hris_delta_export`` run that picks ``event`` up; returns the run id.

    A run that is still queued has not read the HRIS yet, so it already covers
    this event: join it instead of queueing another (a burst of terminations
    makes one run, not hundreds). Otherwise the run id is derived from the
    event, so even a repeated trigger of the same event cannot make two runs.
    """
    from airflow.api.common.trigger_dag import trigger_dag
    from airflow.exceptions import DagRunAlreadyExists
    from airflow.models import DagRun
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType

    queued = DagRun.find(dag_id=HRIS_EXPORT_DAG_ID, state=DagRunState.QUEUED)
    if queued:
        return queued[0].run_id
    run_id = webhook_run_id(event)
    try:
        run = trigger_dag(
            HRIS_EXPORT_DAG_ID,
            run_id=run_id,
            conf={"hris_webhook": {"tenant_id": event.tenant_id, "event_id": event.event_id, "type": event.type}},
            triggered_by=DagRunTriggeredByType.REST_API,
            triggering_user_name="hris-webhook",
            note=f"HRIS {event.type} for tenant {event.tenant_id} (event {event.event_id})",
        )
    except DagRunAlreadyExists:
        return run_id
    if run is None:
        raise RuntimeError(f"{HRIS_EXPORT_DAG_ID}: no run was created")
    return run.run_id


def webhook_run_id(event: WebhookEvent) -> str:
    """``hris_webhook__<tenant>__<event_id>`` (the event id hashed when Airflow would not accept it)."""
    run_id = f"hris_webhook__{event.tenant_id}__{event.event_id}"
    if _RUN_ID_SAFE.match(run_id) and len(run_id) <= 250:
        return run_id
    return f"hris_webhook__{event.tenant_id}__{hashlib.sha256(event.event_id.encode()).hexdigest()[:32]}"


def built_once(source: R | Callable[[], R], kind: type[R]) -> Callable[[], R]:
    """The receiver, built on first use (not at import: the plugin loads in every Airflow component)."""
    if isinstance(source, kind):
        return lambda: source
    lock = threading.Lock()
    built: list[R] = []

    def get() -> R:
        with lock:
            if not built:
                built.append(source())
            return built[0]

    return get
