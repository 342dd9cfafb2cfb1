"""The talent marketplace sandbox: a FastAPI app serving ``openapi.yaml`` (the contract in
/tmp/coord/marketplace_contract.md, lead-defined).

Run: ``python -m uvicorn sandbox.marketplace.app:create_app --factory --host 127.0.0.1 --port 18707``.
Environment: ``SANDBOX_DATA_DIR``, ``SANDBOX_MARKETPLACE_CLIENTS``, ``SANDBOX_MARKETPLACE_WEBHOOK_SECRETS``,
``SANDBOX_MARKETPLACE_TOKEN_TTL``, ``_REFRESH_TTL``, ``_RATE``, ``_BURST``, ``_SIGNATURE_TOLERANCE``,
``_IMPORT_DELAY``, ``SANDBOX_FAULTS_MARKETPLACE`` (see sandbox/README.md).
"""

import json
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
from sandbox.marketplace.auth import NO_CACHE, Authority, Principal
from sandbox.marketplace.config import MarketplaceSettings, parse_client
from sandbox.marketplace.contract import CONTRACT_PATH, body_errors
from sandbox.marketplace.faults import ConnectionFaults
from sandbox.marketplace.problems import PROBLEM_MEDIA_TYPE, ProblemError, problem
from sandbox.marketplace.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_matches
from sandbox.marketplace.store import MarketplaceStore, Outcome, canonical, now_text, sha256_hex
from sandbox.marketplace.webhooks import WebhookSender, member_event

MAX_IDEMPOTENCY_KEY = 255
EVENT_SCOPES = {"learning_completed": "write:learning", "badge_awarded": "write:badge"}
STORED_ONLY = ("updated_at", "created_at")


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


def _json(raw: bytes, content_type: str | None, schema_name: str) -> Any:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ProblemError(415, "unsupported_media_type", f"expected application/json, got {media_type or 'nothing'}")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError(422, "validation_failed", f"the body is not JSON: {exc}",
                           errors=[{"pointer": "", "message": str(exc)}]) from None
    errors = body_errors(schema_name, body)
    if errors:
        raise ProblemError(422, "validation_failed",
                           f"the body does not match {schema_name}: {errors[0]['pointer'] or '/'}: "
                           f"{errors[0]['message']}", errors=errors)
    return body


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


def _profile(stored: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stored.items() if k not in STORED_ONLY}


def _upsert_item(items: list[dict[str, Any]], key: str, item: dict[str, Any]) -> list[dict[str, Any]]:
    return [*(existing for existing in items if existing.get(key) != item[key]), item]


def apply_event(member: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The member profile after a learning_completed or badge_awarded event."""
    profile, data = _profile(member), event["data"]
    if event["type"] == "learning_completed":
        course = data["course_id"]
        profile["learning_completed"] = _upsert_item(profile.get("learning_completed") or [], "course_id", {
            "course_id": course, "completed": True, "completed_at": data.get("completed_at", event["occurred_at"])})
        if data.get("score") is not None:
            profile["score"] = _upsert_item(profile.get("score") or [], "course_id", {
                "course_id": course, "score": data["score"], "grading_scale": data.get("grading_scale")})
        profile["enrollment_state"] = _upsert_item(profile.get("enrollment_state") or [], "course_id",
                                                   {"course_id": course, "state": "completed"})
    else:
        profile["badge_awarded"] = _upsert_item(profile.get("badge_awarded") or [], "badge_id", dict(data))
    return profile


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
        profile = _json(raw, request.headers.get("content-type"), "MemberProfile")
        if profile["member_id"] != member_id:
            raise ProblemError(422, "validation_failed",
                               f"member_id {profile['member_id']!r} in the body is not the path's {member_id!r}")
        fingerprint = sha256_hex(f"PUT {member_id} " + canonical(profile))

        def apply(db: Any) -> tuple[int, dict[str, Any]]:
            created, stored = store.put_member(db, principal.tenant, profile)
            return (201 if created else 200), stored

        outcome = await run_in_threadpool(store.idempotent, principal.client.client_id, key, fingerprint, apply)
        return _outcome_response(outcome)

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

    def receive_event(principal: Principal, headers: dict[str, str], raw: bytes) -> JSONResponse:
        tenant = principal.tenant
        key = _idempotency_key_of(headers)
        timestamp_text, signature = headers.get(TIMESTAMP_HEADER.lower()), headers.get(SIGNATURE_HEADER.lower())
        if not timestamp_text or not signature:
            raise ProblemError(401, "invalid_signature", f"{TIMESTAMP_HEADER} and {SIGNATURE_HEADER} are required")
        if not timestamp_text.isascii() or not timestamp_text.isdigit() or len(timestamp_text) > 12:
            raise ProblemError(401, "invalid_signature", f"{TIMESTAMP_HEADER} must be unix seconds")
        timestamp = int(timestamp_text)
        skew = abs(time.time() - timestamp)
        if skew > settings.signature_tolerance_seconds:
            raise ProblemError(401, "replayed", f"the timestamp is {skew:.0f} s away from the marketplace's clock "
                                                f"(window ±{settings.signature_tolerance_seconds} s)")
        # Looked up before the signature is checked: captured headers resent with another body are a replay.
        event_id = _event_id(raw)
        with store.transaction() as db:
            owner = store.signature_owner(db, tenant, timestamp, signature)
        if owner is not None and owner != event_id:
            raise ProblemError(401, "replayed", "this timestamp and signature were already used by another event")
        if not signature_matches(principal.client.signing_secret, timestamp, raw, signature):
            raise ProblemError(401, "invalid_signature", "the signature does not match the body and timestamp")
        event = _json(raw, headers.get("content-type"), "EventInput")
        scope = EVENT_SCOPES[event["type"]]
        authority.require_scope(principal, scope)
        if key != event["event_id"]:
            raise ProblemError(422, "validation_failed", "Idempotency-Key must be the event_id")
        with store.transaction() as db:
            known = store.find_event(db, tenant, event["event_id"])
            if known is not None:
                if json.loads(known["body"]) != event:
                    raise ProblemError(422, "idempotency_conflict",
                                       f"event {event['event_id']!r} was already received with other content")
                return JSONResponse({"status": "duplicate"}, status_code=200, headers={"Idempotent-Replayed": "true"})
            member = store.member(tenant, event["member_id"], db)
            if member is None:
                raise ProblemError(404, "not_found", f"member {event['member_id']!r} is not in the marketplace")
            store.put_member(db, tenant, apply_event(member, event))
            store.save_event(db, tenant, event, timestamp, signature)
        return JSONResponse({"status": "accepted"}, status_code=202)

    def _idempotency_key_of(headers: dict[str, str]) -> str:
        key = headers.get("idempotency-key")
        if key is None:
            raise ProblemError(400, "idempotency_key_required", "events need Idempotency-Key: <event_id>")
        return key

    @api.post("/v1/events")
    async def post_event(request: Request, principal: Caller) -> JSONResponse:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}

        def handle() -> JSONResponse:
            try:
                answer = receive_event(principal, headers, raw)
            except ProblemError as exc:
                store.receipt(principal.tenant, _event_id(raw), exc.code)
                raise
            store.receipt(principal.tenant, _event_id(raw), json.loads(answer.body)["status"])
            return answer

        return await run_in_threadpool(handle)

    # -- bulk import ------------------------------------------------------------------

    def run_import(import_id: str, tenant: str, raw: bytes, media_type: str, encoding: str | None) -> None:
        try:
            parsed = bulk.parse(raw, media_type, encoding)
        except bulk.UnreadableFile as exc:
            store.finish_import(import_id, {"import_id": import_id, "status": "failed", "accepted": 0, "rejected": 0,
                                            "errors": [{"line": 0, "member_id": None, "code": "unreadable_file",
                                                        "detail": str(exc)}]})
            return
        with store.transaction() as db:
            for _line, member in parsed.members:
                store.put_member(db, tenant, member)
        store.finish_import(import_id, {"import_id": import_id, "status": "completed",
                                        "accepted": len(parsed.members), "rejected": len(parsed.errors),
                                        "errors": sorted(parsed.errors, key=lambda e: e["line"])})

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
        raw = await request.body()
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
            threading.Thread(target=run_import, args=(import_id, principal.tenant, raw, media_type, encoding),
                             name=f"import-{import_id}", daemon=True).start()
        return _outcome_response(outcome)

    @api.get("/v1/bulk/imports/{import_id}")
    async def get_import(import_id: str, principal: BulkAdmin) -> dict[str, Any]:
        result = await run_in_threadpool(store.get_import, principal.tenant, import_id)
        if result is None:  # another tenant's import answers like a missing one: existence must not leak
            raise ProblemError(404, "not_found", f"import {import_id!r} not found")
        return result

    # -- sandbox administration (no auth, loopback only; not part of the contract) --

    async def admin_body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError as exc:
            raise ProblemError(400, "validation_failed", f"the body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ProblemError(400, "validation_failed", "expected a JSON object")
        return body

    @api.post("/admin/reset")
    async def reset() -> dict[str, str]:
        webhooks.forget()
        await run_in_threadpool(store.reset)
        authority.buckets.clear()
        return {"status": "reset"}

    @api.post("/admin/clients")
    async def add_client(request: Request) -> dict[str, Any]:
        body = await admin_body(request)
        try:
            client = parse_client(str(body.pop("client_id", "")) or "?", body)
        except ValueError as exc:
            raise ProblemError(400, "validation_failed", str(exc)) from None
        await run_in_threadpool(store.save_client, client)
        return {"client_id": client.client_id, "tenant": client.tenant, "scopes": sorted(client.scopes)}

    @api.post("/admin/webhooks")
    async def set_webhook(request: Request) -> dict[str, Any]:
        body = await admin_body(request)
        tenant = str(body.get("tenant") or "*")
        secret = body.get("secret") or settings.webhook_secrets.get(tenant)
        url, attempts = body.get("url"), body.get("max_attempts", 5)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")) or not secret:
            raise ProblemError(400, "validation_failed", "expected {url, secret, tenant?, max_attempts?}")
        if not isinstance(attempts, int) or attempts < 1:
            raise ProblemError(400, "validation_failed", "max_attempts must be a positive integer")
        await run_in_threadpool(store.set_webhook, tenant, url, str(secret), attempts)
        return {"tenant": tenant, "url": url, "max_attempts": attempts}

    @api.post("/admin/token-ttl")
    async def token_ttl(request: Request) -> dict[str, int]:
        seconds = (await admin_body(request)).get("seconds")
        if not isinstance(seconds, int) or seconds < 1:
            raise ProblemError(400, "validation_failed", "seconds must be a positive integer")
        authority.token_ttl = seconds
        await run_in_threadpool(store.clip_access_tokens, seconds)
        return {"seconds": seconds}

    @api.post("/admin/rate-limit")
    async def rate_limit(request: Request) -> dict[str, float]:
        body = await admin_body(request)
        rate, burst = body.get("rate"), body.get("burst")
        if not isinstance(rate, int | float) or rate <= 0 or not isinstance(burst, int) or burst < 1:
            raise ProblemError(400, "validation_failed", "expected {rate: requests per second > 0, burst: >= 1}")
        authority.set_rate(float(rate), burst)
        return {"rate": float(rate), "burst": burst}

    @api.post("/admin/tenants/{tenant}/members/{member_id}")
    async def change_member(tenant: str, member_id: str, request: Request) -> dict[str, Any]:
        """A change made in the marketplace itself (the member edits a profile): stored, then a webhook."""
        changes = await admin_body(request)

        def change() -> dict[str, Any]:
            with store.transaction() as db:
                member = store.member(tenant, member_id, db)
                if member is None:
                    raise ProblemError(404, "not_found", f"member {member_id!r} not found")
                _created, stored = store.put_member(db, tenant, {**_profile(member), **changes,
                                                                 "member_id": member_id})
            webhooks.enqueue(tenant, member_event("member.updated", member_id, stored))
            return stored

        return await run_in_threadpool(change)

    @api.delete("/admin/tenants/{tenant}/members/{member_id}")
    async def delete_member(tenant: str, member_id: str) -> dict[str, str]:
        if not await run_in_threadpool(store.delete_member, tenant, member_id):
            raise ProblemError(404, "not_found", f"member {member_id!r} not found")
        webhooks.enqueue(tenant, member_event("member.deleted", member_id, {}))
        return {"status": "deleted"}

    @api.get("/admin/state")
    async def state() -> dict[str, Any]:
        result = await run_in_threadpool(store.state)
        result.update(token_ttl=authority.token_ttl, webhooks_idle=webhooks.wait_idle(0), as_of=now_text())
        return result

    return api


def _event_id(raw: bytes) -> str | None:
    try:
        event_id = json.loads(raw).get("event_id")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return event_id if isinstance(event_id, str) else None
