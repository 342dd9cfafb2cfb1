"""The talent marketplace sandbox: a FastAPI app serving ``openapi.yaml``, the marketplace contract of issue 17.

Run: ``python -m uvicorn sandbox.marketplace.app:create_app --factory --host 127.0.0.1 --port 18707``.
Environment: ``SANDBOX_DATA_DIR``, ``SANDBOX_MARKETPLACE_CLIENTS``, ``SANDBOX_MARKETPLACE_WEBHOOK_SECRETS``,
``SANDBOX_MARKETPLACE_TOKEN_TTL``, ``_REFRESH_TTL``, ``_RATE``, ``_BURST``, ``_SIGNATURE_TOLERANCE``,
``_IMPORT_DELAY``, ``SANDBOX_FAULTS_MARKETPLACE`` (see sandbox/README.md).
"""

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.marketplace import bulk
from sandbox.marketplace.admin import add_admin_routes
from sandbox.marketplace.auth import NO_CACHE, Authority, Principal
from sandbox.marketplace.config import MarketplaceSettings
from sandbox.marketplace.contract import CONTRACT_PATH, json_body
from sandbox.marketplace.events import event_id_of, receive_event
from sandbox.marketplace.faults import ConnectionFaults
from sandbox.marketplace.problems import PROBLEM_MEDIA_TYPE, ProblemError, problem
from sandbox.marketplace.store import MarketplaceStore, Outcome, canonical, sha256_hex
from sandbox.marketplace.webhooks import WebhookSender

MAX_IDEMPOTENCY_KEY = 255


def create_app() -> Any:
    """Build the marketplace from the environment: FastAPI app inside the fault switches."""
    settings = MarketplaceSettings.from_env()
    store = MarketplaceStore(settings.data_dir / "marketplace.sqlite")
    holder: dict[str, ConnectionFaults] = {}
    api = build_api(settings, store, drop_webhooks=lambda: holder["faults"].injector.settings.drop_webhooks)
    holder["faults"] = ConnectionFaults(api, "marketplace")
    return holder["faults"]


def _problem_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _outcome_response(outcome: Outcome) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key")
    if key is None:
        raise ProblemError(400, "idempotency_key_required", "every write needs an Idempotency-Key header")
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not all(0x21 <= ord(char) <= 0x7E for char in key):
        raise ProblemError(400, "validation_failed",
                           f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters, no spaces")
    return key


def _updated_since(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ProblemError(400, "validation_failed", f"updated_since {value!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise ProblemError(400, "validation_failed", f"updated_since {value!r} needs a UTC offset (e.g. Z)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_api(settings: MarketplaceSettings, store: MarketplaceStore,
              drop_webhooks: Callable[[], bool] = lambda: False) -> FastAPI:
    """The FastAPI application without the fault layer; the served contract is ``openapi.yaml``."""
    authority = Authority(settings, store)
    webhooks = WebhookSender(store, drop_webhooks)
    api = FastAPI(title="Talent marketplace sandbox", openapi_url=None, docs_url=None, redoc_url=None)

    @api.exception_handler(ProblemError)
    async def _on_problem(_request: Request, exc: ProblemError) -> JSONResponse:
        return _problem_response(exc.status, exc.body, exc.headers)

    @api.exception_handler(RequestValidationError)
    async def _on_invalid_parameters(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"pointer": "/" + "/".join(str(part) for part in error["loc"]), "message": error["msg"]}
                  for error in exc.errors()]
        detail = "; ".join(f"{item['pointer']}: {item['message']}" for item in errors)
        return _problem_response(422, problem(422, "validation_failed", detail, errors=errors))

    @api.exception_handler(StarletteHTTPException)
    async def _on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _problem_response(exc.status_code, problem(exc.status_code, code, str(exc.detail)),
                                 dict(exc.headers or {}))

    @api.exception_handler(Exception)
    async def _on_bug(_request: Request, exc: Exception) -> JSONResponse:
        return _problem_response(500, problem(500, "internal_error", f"{type(exc).__name__}: {exc}"))

    def requires(scope: str | None) -> Callable[[Request], Principal]:
        def dependency(request: Request) -> Principal:
            return authority.principal(request.headers.get("authorization"), scope)

        return dependency

    Caller = Annotated[Principal, Depends(requires(None))]
    MemberReader = Annotated[Principal, Depends(requires("read:members"))]
    MemberWriter = Annotated[Principal, Depends(requires("write:members"))]
    ActivityReader = Annotated[Principal, Depends(requires("read:activity:aggregate"))]
    BulkAdmin = Annotated[Principal, Depends(requires("admin:bulk"))]
    Limit = Annotated[int, Query(ge=1, le=500)]
    Cursor = Annotated[str | None, Query(min_length=1, max_length=1024)]

    @api.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/openapi.yaml", include_in_schema=False)
    async def served_contract() -> PlainTextResponse:
        return PlainTextResponse(CONTRACT_PATH.read_text(), media_type="application/yaml")

    # -- OAuth --------------------------------------------------------------------

    @api.post("/oauth/token")
    async def issue_token(request: Request) -> JSONResponse:
        token = await run_in_threadpool(authority.issue_token, request.headers.get("content-type", ""),
                                        await request.body(), request.headers.get("authorization"))
        return JSONResponse(token, headers=NO_CACHE)

    @api.post("/oauth/revoke")
    async def revoke_token(request: Request) -> Response:
        await run_in_threadpool(authority.revoke, request.headers.get("content-type", ""), await request.body(),
                                request.headers.get("authorization"))
        return Response(status_code=200, headers=NO_CACHE)

    # -- members and records ------------------------------------------------------

    @api.put("/v1/members/{member_id}")
    async def put_member(member_id: str, request: Request, principal: MemberWriter) -> JSONResponse:
        key = _idempotency_key(request)
        raw = await request.body()
        profile = json_body(raw, request.headers.get("content-type"), "MemberProfile")
        if profile["member_id"] != member_id:
            raise ProblemError(422, "validation_failed",
                               f"member_id {profile['member_id']!r} in the body is not the path's {member_id!r}")
        fingerprint = sha256_hex(f"PUT {member_id} " + canonical(profile))

        def apply(db: Any) -> tuple[int, dict[str, Any]]:
            created, stored = store.put_member(db, principal.tenant, profile)
            return (201 if created else 200), stored

        outcome = await run_in_threadpool(store.idempotent, principal.client.client_id, key, fingerprint, apply)
        return _outcome_response(outcome)

    @api.put("/v1/members/{member_id}/eligibility/{eligible_for}")
    async def put_eligibility(member_id: str, eligible_for: str, request: Request,
                              principal: MemberWriter) -> JSONResponse:
        key = _idempotency_key(request)
        grant = json_body(await request.body(), request.headers.get("content-type"), "EligibilityGrant")
        if grant["eligible_for"] != eligible_for:
            raise ProblemError(422, "validation_failed",
                               f"eligible_for {grant['eligible_for']!r} in the body is not the path's {eligible_for!r}")
        fingerprint = sha256_hex(f"PUT {member_id} eligibility {eligible_for} " + canonical(grant))

        def apply(db: Any) -> tuple[int, dict[str, Any]]:
            created, stored = store.put_eligibility(db, principal.tenant, member_id, grant)
            return (201 if created else 200), stored

        outcome = await run_in_threadpool(store.idempotent, principal.client.client_id, key, fingerprint, apply)
        return _outcome_response(outcome)

    @api.get("/v1/members/{member_id}/eligibility")
    async def member_eligibility(member_id: str, principal: MemberReader) -> dict[str, Any]:
        data = await run_in_threadpool(store.eligibility, principal.tenant, member_id)
        if data is None:  # another tenant's member answers like a missing one
            raise ProblemError(404, "not_found", f"member {member_id!r} not found")
        return {"data": data}

    def listing(name: str) -> Callable[..., Any]:
        def serve(principal: Principal, limit: int, cursor: str | None, updated_since: str | None) -> dict[str, Any]:
            data, next_cursor = store.page(name, principal.tenant, cursor=cursor, limit=limit,
                                           updated_since=_updated_since(updated_since))
            return {"data": data, "next_cursor": next_cursor}

        return serve

    list_members, list_records, list_badges = listing("members"), listing("learning-records"), listing("badges")

    @api.get("/v1/members")
    async def members(principal: MemberReader, limit: Limit = 100, cursor: Cursor = None) -> dict[str, Any]:
        return await run_in_threadpool(list_members, principal, limit, cursor, None)

    @api.get("/v1/learning-records")
    async def learning_records(principal: ActivityReader, limit: Limit = 100, cursor: Cursor = None,
                               updated_since: str | None = None) -> dict[str, Any]:
        return await run_in_threadpool(list_records, principal, limit, cursor, updated_since)

    @api.get("/v1/badges")
    async def badges(principal: ActivityReader, limit: Limit = 100, cursor: Cursor = None,
                     updated_since: str | None = None) -> dict[str, Any]:
        return await run_in_threadpool(list_badges, principal, limit, cursor, updated_since)

    # -- signed events --------------------------------------------------------------

    @api.post("/v1/events")
    async def post_event(request: Request, principal: Caller) -> JSONResponse:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}

        def handle() -> JSONResponse:
            try:
                status, body = receive_event(store, authority, settings.signature_tolerance_seconds, principal,
                                             headers, raw)
            except ProblemError as exc:
                store.receipt(principal.tenant, event_id_of(raw), exc.code)
                raise
            store.receipt(principal.tenant, event_id_of(raw), body["status"])
            return JSONResponse(body, status_code=status,
                                headers={"Idempotent-Replayed": "true"} if status == 200 else None)

        return await run_in_threadpool(handle)

    # -- bulk import ------------------------------------------------------------------

    @api.post("/v1/bulk/imports")
    async def create_import(request: Request, principal: BulkAdmin) -> JSONResponse:
        key = _idempotency_key(request)
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in bulk.MEDIA_TYPES:
            raise ProblemError(415, "unsupported_media_type", f"expected one of {list(bulk.MEDIA_TYPES)}, got "
                                                              f"{media_type or 'nothing'}")
        encoding = request.headers.get("content-encoding")
        checksum = (request.headers.get("x-checksum-sha256") or "").strip().lower()
        if not checksum:
            raise ProblemError(400, "checksum_required", "X-Checksum-SHA256 (hex of the uploaded bytes) is required")
        limit = settings.max_upload_bytes
        too_large = ProblemError(413, "payload_too_large", f"uploads are limited to {limit} bytes; split the file "
                                                           "into several imports")
        declared = request.headers.get("content-length") or ""
        if declared.isdigit() and int(declared) > limit:  # refused before the body is read, as gateways do
            raise too_large
        raw = await request.body()
        if len(raw) > limit:  # chunked uploads declare no length
            raise too_large
        actual = sha256_hex(raw)
        if checksum != actual:
            raise ProblemError(400, "checksum_mismatch",
                               f"X-Checksum-SHA256 {checksum[:16]}... is not the SHA-256 of the {len(raw)} bytes "
                               "received", expected=checksum, actual=actual)
        fingerprint = sha256_hex(f"bulk {media_type} {encoding} {actual}")
        import_id = f"imp_{uuid.uuid4().hex}"

        def apply(db: Any) -> tuple[int, dict[str, Any]]:
            store.create_import(db, import_id, principal.tenant, principal.client.client_id,
                                time.time() + settings.import_delay_seconds,
                                {"import_id": import_id, "status": "processing"})
            return 202, {"import_id": import_id, "status": "processing"}

        outcome = await run_in_threadpool(store.idempotent, principal.client.client_id, key, fingerprint, apply)
        if not outcome.replayed:
            threading.Thread(target=bulk.run_import,
                             args=(store, import_id, principal.tenant, raw, media_type, encoding),
                             name=f"import-{import_id}", daemon=True).start()
        return _outcome_response(outcome)

    @api.get("/v1/bulk/imports/{import_id}")
    async def get_import(import_id: str, principal: BulkAdmin) -> dict[str, Any]:
        result = await run_in_threadpool(store.get_import, principal.tenant, import_id)
        if result is None:  # another tenant's import answers like a missing one: existence must not leak
            raise ProblemError(404, "not_found", f"import {import_id!r} not found")
        return result

    add_admin_routes(api, settings, store, authority, webhooks)
    return api

