"""The national training registry sandbox: a FastAPI app implementing ``openapi.yaml``.

Run: ``python -m uvicorn sandbox.registry.app:create_app --factory --host 127.0.0.1 --port 18701``.
Environment: ``SANDBOX_DATA_DIR``, ``SANDBOX_REGISTRY_CLIENTS``, ``SANDBOX_REGISTRY_TOKEN_TTL``,
``SANDBOX_REGISTRY_RATE``, ``SANDBOX_REGISTRY_BURST``, ``SANDBOX_FAULTS_REGISTRY`` (see README.md).
"""

import json
import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated, Any

import msgspec
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.faults import FaultInjector
from sandbox.registry.auth import Authority, OAuthError, Principal
from sandbox.registry.config import RegistrySettings
from sandbox.registry.contract import CONTRACT_PATH, body_errors
from sandbox.registry.notifications import DEFAULT_NOTIFICATION_SECRET, DEFAULT_WEBHOOK_SECRET, NotificationInbox
from sandbox.registry.notifications import add_routes as add_notification_routes
from sandbox.registry.problems import PROBLEM_MEDIA_TYPE, ProblemError, problem
from sandbox.registry.request_counter import RequestCounter
from sandbox.registry.store import InvalidCursorError, RegistryStore, WriteOutcome, format_timestamp
from sandbox.registry.verification import verify_credential

READ = "certificates:read"
WRITE = "certificates:write"
MAX_IDEMPOTENCY_KEY = 255


def create_app() -> Any:
    """Build the registry from the environment: FastAPI app, fault switches, request counting."""
    settings = RegistrySettings.from_env()
    store = RegistryStore(settings.data_dir / "registry.sqlite")
    api = build_api(settings, store)
    return RequestCounter(FaultInjector(api, "registry"), store, api.router.routes)


def _problem_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _outcome_response(outcome: WriteOutcome) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    if outcome.status == 201:
        headers["Location"] = f"/v1/certificates/{outcome.body['id']}"
        return JSONResponse(outcome.body, status_code=201, headers=headers)
    return _problem_response(outcome.status, outcome.body, headers)


async def _json_body(request: Request, schema_name: str) -> Any:
    """The request's JSON body, checked against ``components.schemas.<schema_name>`` (415/422)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ProblemError(415, "unsupported-media-type", f"expected application/json, got {media_type or 'nothing'}")
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError(
            422,
            "malformed-json",
            f"the body is not JSON: {exc}",
            errors=[{"pointer": "", "message": str(exc)}],
        ) from None
    errors = body_errors(schema_name, body)
    if errors:
        raise ProblemError(
            422,
            "invalid-body",
            f"the body does not match {schema_name}: {errors[0]['message']}",
            errors=errors,
        )
    return body


def _date_rule_errors(certificate: dict[str, Any]) -> list[dict[str, str]]:
    expires_on = certificate.get("expires_on")
    if expires_on is not None and date.fromisoformat(expires_on) < date.fromisoformat(certificate["issued_on"]):
        return [
            {
                "pointer": "/expires_on",
                "message": f"expires_on {expires_on} is before issued_on {certificate['issued_on']}",
            }
        ]
    return []


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key")
    if key is None:
        raise ProblemError(400, "idempotency-key-missing", "writes need an Idempotency-Key header")
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not all(0x21 <= ord(char) <= 0x7E for char in key):
        raise ProblemError(
            400,
            "idempotency-key-invalid",
            f"Idempotency-Key must be 1-{MAX_IDEMPOTENCY_KEY} printable ASCII characters without spaces",
        )
    return key


def _parse_updated_since(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ProblemError(
            400, "invalid-updated-since", f"updated_since {value!r} is not an ISO 8601 date-time"
        ) from None
    if moment.tzinfo is None:
        raise ProblemError(400, "invalid-updated-since", f"updated_since {value!r} needs a UTC offset (e.g. Z)")
    return format_timestamp(moment)


def build_api(settings: RegistrySettings, store: RegistryStore) -> FastAPI:
    """The FastAPI application without middleware; the served contract is ``openapi.yaml``."""
    authority = Authority(settings, store)
    api = FastAPI(title="National training registry sandbox", openapi_url=None, docs_url=None, redoc_url=None)

    @api.exception_handler(ProblemError)
    async def _on_problem(_request: Request, exc: ProblemError) -> JSONResponse:
        return _problem_response(exc.status, exc.body, exc.headers)

    @api.exception_handler(RequestValidationError)
    async def _on_invalid_parameters(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"pointer": "/" + "/".join(str(part) for part in error["loc"]), "message": error["msg"]}
            for error in exc.errors()
        ]
        return _problem_response(
            422,
            problem(
                422,
                "invalid-parameters",
                "; ".join(f"{item['pointer']}: {item['message']}" for item in errors),
                errors=errors,
            ),
        )

    @api.exception_handler(StarletteHTTPException)
    async def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette lists only the first route's methods; a path served by several routes needs all.
            # A literal path (/v1/certificates/batch) wins over a template that also matches it.
            matching = [
                route
                for route in api.router.routes
                if isinstance(route, APIRoute) and route.path_regex.match(request.url.path)
            ]
            literal = [route for route in matching if route.path == request.url.path]
            methods = {method for route in literal or matching for method in route.methods}
            headers["Allow"] = ", ".join(sorted(methods - {"HEAD"}))
        return _problem_response(exc.status_code, problem(exc.status_code, "http-error", str(exc.detail)), headers)

    def requires(scope: str) -> Callable[[Request], Principal]:
        def dependency(request: Request) -> Principal:
            principal = authority.principal(request.headers.get("authorization"))
            authority.require_scope(principal, scope)
            return principal

        return dependency

    Reader = Annotated[Principal, Depends(requires(READ))]
    Writer = Annotated[Principal, Depends(requires(WRITE))]

    def visible_certificate(principal: Principal, certificate_id: str) -> dict[str, Any]:
        certificate = store.get_certificate(certificate_id)
        # Other tenants' certificates answer 404 like missing ones: existence must not leak.
        if certificate is None or not principal.client.may_act_for(certificate["tenant_id"]):
            raise ProblemError(404, "certificate-not-found", f"certificate {certificate_id!r} not found")
        return certificate

    @api.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/openapi.yaml", include_in_schema=False)
    async def served_contract() -> PlainTextResponse:
        return PlainTextResponse(CONTRACT_PATH.read_text(), media_type="application/yaml")

    @api.post("/oauth/token")
    async def issue_token(request: Request) -> JSONResponse:
        no_cache = {"Cache-Control": "no-store", "Pragma": "no-cache"}
        body = await request.body()
        try:
            token = await run_in_threadpool(
                authority.issue_token,
                request.headers.get("content-type", ""),
                body,
                request.headers.get("authorization"),
            )
        except OAuthError as exc:
            return JSONResponse(exc.body, status_code=exc.status, headers={**no_cache, **exc.headers})
        return JSONResponse(token, headers=no_cache)

    @api.post("/v1/certificates")
    async def create_certificate(request: Request, principal: Writer) -> JSONResponse:
        key = _idempotency_key(request)
        certificate = await _json_body(request, "CertificateInput")
        authority.require_tenant(principal, certificate["tenant_id"])
        errors = _date_rule_errors(certificate)
        if errors:
            raise ProblemError(422, "invalid-dates", errors[0]["message"], errors=errors)
        [outcome] = await run_in_threadpool(store.create_certificates, principal.client.client_id, [(key, certificate)])
        return _outcome_response(outcome)

    @api.post("/v1/certificates/batch")
    async def create_certificates_batch(request: Request, principal: Writer) -> dict[str, Any]:
        items = (await _json_body(request, "BatchRequest"))["items"]
        for item in items:
            authority.require_tenant(principal, item["certificate"]["tenant_id"])
        results: list[dict[str, Any]] = [
            {"index": index, "idempotency_key": item["idempotency_key"]} for index, item in enumerate(items)
        ]
        accepted = []
        for result, item in zip(results, items, strict=True):
            errors = _date_rule_errors(item["certificate"])
            if errors:
                result.update(status=422, problem=problem(422, "invalid-dates", errors[0]["message"], errors=errors))
            else:
                accepted.append((result, item))
        outcomes = await run_in_threadpool(
            store.create_certificates,
            principal.client.client_id,
            [(item["idempotency_key"], item["certificate"]) for _, item in accepted],
        )
        for (result, _), outcome in zip(accepted, outcomes, strict=True):
            result["replayed"] = outcome.replayed
            if outcome.status == 201:
                # A replayed creation is reported as 200 so callers can tell new from known.
                result.update(status=200 if outcome.replayed else 201, certificate=outcome.body)
            else:
                result.update(status=outcome.status, problem=outcome.body)
                if "certificate_id" in outcome.body:
                    result["certificate_id"] = outcome.body["certificate_id"]
        return {"results": results}

    @api.get("/v1/certificates")
    async def list_certificates(
        principal: Reader,
        tenant_id: Annotated[str, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")],
        updated_since: str | None = None,
        cursor: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> Response:
        authority.require_tenant(principal, tenant_id)
        as_of = store.now()
        try:
            page, next_cursor = await run_in_threadpool(
                store.list_certificates, tenant_id, _parse_updated_since(updated_since), cursor, limit
            )
        except InvalidCursorError as exc:
            raise ProblemError(400, "invalid-cursor", str(exc)) from None
        # Encoded in one step: FastAPI's generic encoder would walk every field of every certificate.
        return Response(msgspec.json.encode({"data": page, "next_cursor": next_cursor, "as_of": as_of}),
                        media_type="application/json")

    @api.get("/v1/certificates/{certificate_id}")
    async def get_certificate(certificate_id: str, principal: Reader) -> dict[str, Any]:
        return await run_in_threadpool(visible_certificate, principal, certificate_id)

    @api.post("/v1/certificates/{certificate_id}/revoke")
    async def revoke_certificate(certificate_id: str, request: Request, principal: Writer) -> dict[str, Any]:
        reason = (await _json_body(request, "RevokeRequest"))["reason"]
        await run_in_threadpool(visible_certificate, principal, certificate_id)
        revoked = await run_in_threadpool(store.revoke_certificate, certificate_id, reason)
        if revoked is None:  # deleted between the look-up and the update
            raise ProblemError(404, "certificate-not-found", f"certificate {certificate_id!r} not found")
        return revoked

    @api.post("/v1/verify")
    async def verify(request: Request, _principal: Reader) -> dict[str, Any]:
        credential = (await _json_body(request, "VerifyRequest"))["credential"]
        result = await run_in_threadpool(verify_credential, credential, store.is_credential_revoked,
                                         trusted=settings.trusted_issuers)
        return result.as_json()

    # -- sandbox administration (no auth, loopback only; not part of the contract) --

    # Notifications in and reviews out (sandbox/registry/notifications.py).
    inbox = NotificationInbox(settings.data_dir / "notifications.sqlite")
    add_notification_routes(
        api, writer=requires(WRITE), store=store, inbox=inbox,
        notification_secret=os.environ.get("SANDBOX_REGISTRY_NOTIFICATION_SECRET") or DEFAULT_NOTIFICATION_SECRET,
        webhook_secret=os.environ.get("SANDBOX_REGISTRY_WEBHOOK_SECRET") or DEFAULT_WEBHOOK_SECRET,
    )

    @api.post("/admin/reset")
    async def reset() -> dict[str, str]:
        await run_in_threadpool(store.reset)
        await run_in_threadpool(inbox.reset)
        authority.buckets.clear()
        return {"status": "reset"}

    @api.delete("/admin/certificates/{certificate_id}", status_code=204)
    async def forget_certificate(certificate_id: str) -> Response:
        if not await run_in_threadpool(store.delete_certificate, certificate_id):
            raise ProblemError(404, "certificate-not-found", f"certificate {certificate_id!r} not found")
        return Response(status_code=204)

    @api.get("/admin/stats")
    async def stats() -> dict[str, Any]:
        result = await run_in_threadpool(store.stats)
        result["as_of"] = datetime.now(UTC).isoformat()
        return result

    return api
