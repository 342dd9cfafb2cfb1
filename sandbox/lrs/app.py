"""LRS sandbox: the xAPI statement resource per tenant, the LMS REST completions export, admin.

Run: ``python -m uvicorn sandbox.lrs.app:create_app --factory --host 127.0.0.1 --port 18703``.
Configuration: :class:`sandbox.lrs.settings.LrsSettings`. Behaviour and deviations from
the xAPI spec: ``sandbox/lrs/README.md``.

Routes:
- ``/{tenant}/xAPI/about`` (no auth), ``/{tenant}/xAPI/statements`` (PUT, POST, GET; HTTP Basic)
- ``/{tenant}/lms/api/v1/completions`` (GET; Bearer)
- ``/health``, ``/admin/reset``, ``/admin/{tenant}/seed``, ``/admin/{tenant}/statements``,
  ``/admin/{tenant}/completions``, ``/admin/{tenant}/stats`` (no auth, loopback only),
  ``/admin/faults`` (:mod:`sandbox.faults`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.faults import FaultInjector
from sandbox.lrs.filter_keys import agent_identity, key_hash
from sandbox.lrs.formats import render
from sandbox.lrs.lms_rest import completions_page
from sandbox.lrs.seeding import authority_for, seed_tenant
from sandbox.lrs.settings import LrsSettings
from sandbox.lrs.store import LrsStore, StatementConflict, StatementQuery
from sandbox.lrs.timestamps import TimestampError, iso_to_micros, micros_to_iso, parse_iso
from sandbox.lrs.validation import UUID_RE, StatementInvalid, validate_agent, validate_statement

VERSION_HEADER = "X-Experience-API-Version"
CONSISTENT_HEADER = "X-Experience-API-Consistent-Through"
SUPPORTED_VERSIONS = ["1.0.3", "2.0.0"]
QUERY_PARAMS = frozenset(
    {
        "statementId",
        "voidedStatementId",
        "agent",
        "verb",
        "activity",
        "registration",
        "related_activities",
        "related_agents",
        "since",
        "until",
        "limit",
        "format",
        "attachments",
        "ascending",
        "more",
    }
)
SINGLE_PARAMS = frozenset({"statementId", "voidedStatementId", "format", "attachments"})
IRI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:\S+$")


class HttpError(Exception):
    """An error answer: status, machine-readable code and a message naming the rule broken."""

    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}


def _negotiate_version(request: Request) -> str:
    """The version this LRS answers in: latest patch of the requested 1.0.x or 2.0.x (400 otherwise)."""
    requested = request.headers.get(VERSION_HEADER)
    if not requested:
        raise HttpError(400, "missing_version", f"the {VERSION_HEADER} header is required (1.0.3 or 2.0.0)")
    if re.fullmatch(r"1\.0(\.\d+)?", requested):
        return "1.0.3"
    if re.fullmatch(r"2\.0(\.\d+)?", requested):
        return "2.0.0"
    raise HttpError(400, "unsupported_version", f"{VERSION_HEADER} {requested!r} is not supported; use 1.0.3 or 2.0.0")


class LrsApi:
    """Request handlers over one :class:`LrsStore`."""

    def __init__(self, settings: LrsSettings, store: LrsStore) -> None:
        self.settings = settings
        self.store = store

    # -- helpers -------------------------------------------------------------------------

    def _authenticate(self, request: Request, tenant: str) -> dict[str, Any]:
        """Check HTTP Basic credentials for ``tenant``; return the authority Agent they stand for."""
        expected = self.settings.credentials.get(tenant)
        header = request.headers.get("authorization", "")
        scheme, _, encoded = header.partition(" ")
        challenge = {"WWW-Authenticate": f'Basic realm="{tenant} xAPI"'}
        if expected is None or scheme.lower() != "basic":
            raise HttpError(401, "unauthorized", "HTTP Basic credentials for this tenant are required", challenge)
        try:
            key, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise HttpError(401, "unauthorized", "malformed Basic credentials", challenge) from None
        if not (hmac.compare_digest(key, expected[0]) and hmac.compare_digest(secret, expected[1])):
            raise HttpError(401, "unauthorized", "invalid credentials for this tenant", challenge)
        return authority_for(tenant, key)

    def _xapi_headers(self, version: str) -> dict[str, str]:
        if "no_consistent_through" in self.settings.quirks:
            return {VERSION_HEADER: version}
        consistent = self.store.consistent_through_us(self.settings.consistency_lag_s)
        return {VERSION_HEADER: version, CONSISTENT_HEADER: micros_to_iso(consistent)}

    def _page(self, tenant: str, query: StatementQuery, after: tuple[int, int] | None, limit: int) -> list[Any]:
        """Up to ``limit`` rows after ``after``; with the since_on_timestamp quirk the window is on
        each statement's timestamp (Ralph's reading), scanned in stored order and filtered here."""
        if "since_on_timestamp" not in self.settings.quirks or (query.since_us is None and query.until_us is None):
            return self.store.query_statements(tenant, query, after=after, limit=limit)
        unbounded = StatementQuery(keys=query.keys, ascending=query.ascending)
        kept: list[Any] = []
        while len(kept) < limit:
            rows = self.store.query_statements(tenant, unbounded, after=after, limit=max(limit, 500))
            for row in rows:
                try:
                    moment = iso_to_micros(json.loads(row.body).get("timestamp"))
                except (TimestampError, TypeError, ValueError):
                    continue
                if (query.since_us is None or moment > query.since_us) and (
                        query.until_us is None or moment <= query.until_us):
                    kept.append(row)
            if len(rows) < max(limit, 500):
                break
            after = (rows[-1].stored_us, rows[-1].seq)
        return kept[:limit]

    @staticmethod
    async def _json_body(request: Request) -> Any:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith("multipart/"):
            raise HttpError(400, "unsupported_media_type", "multipart/mixed (raw attachments) is not supported")
        try:
            return json.loads(await request.body())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HttpError(400, "invalid_json", f"request body is not JSON: {exc}") from None

    # -- xAPI ----------------------------------------------------------------------------

    async def about(self, request: Request) -> Response:
        return JSONResponse({"version": SUPPORTED_VERSIONS, "extensions": {}}, headers={VERSION_HEADER: "2.0.0"})

    async def statements(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        version = "1.0.3"
        try:
            authority = self._authenticate(request, tenant)
            version = _negotiate_version(request)
            if request.method == "GET":
                return await self._get_statements(request, tenant, version)
            if request.method == "PUT":
                return await self._put_statement(request, tenant, version, authority)
            return await self._post_statements(request, tenant, version, authority)
        except HttpError as exc:
            headers = {**exc.headers, **self._xapi_headers(version)}
            return JSONResponse({"error": exc.error, "message": exc.message}, exc.status, headers=headers)
        except StatementInvalid as exc:
            return JSONResponse(
                {"error": "invalid_statement", "message": str(exc)}, 400, headers=self._xapi_headers(version)
            )
        except StatementConflict as exc:
            return JSONResponse({"error": "conflict", "message": str(exc)}, 409, headers=self._xapi_headers(version))

    async def _put_statement(self, request: Request, tenant: str, version: str, authority: dict) -> Response:
        statement_id = request.query_params.get("statementId")
        if not statement_id:
            raise HttpError(400, "missing_statement_id", "PUT /statements needs the statementId parameter")
        if not UUID_RE.match(statement_id):
            raise HttpError(400, "invalid_statement_id", f"statementId {statement_id!r} is not a UUID")
        unknown = set(request.query_params) - {"statementId"}
        if unknown:
            raise HttpError(400, "unknown_parameter", f"PUT /statements takes only statementId, got {sorted(unknown)}")
        body = await self._json_body(request)
        statement = validate_statement(body, xapi_version=version)
        if "id" in statement and statement["id"].lower() != statement_id.lower():
            raise HttpError(
                400, "id_mismatch", f"statement.id {statement['id']} differs from statementId {statement_id}"
            )
        statement = {**statement, "id": statement_id}
        await run_in_threadpool(
            self.store.store_statements,
            tenant,
            [statement],
            authority=authority,
            version=_stored_version(version),
        )
        return Response(status_code=204, headers=self._xapi_headers(version))

    async def _post_statements(self, request: Request, tenant: str, version: str, authority: dict) -> Response:
        if request.query_params:
            raise HttpError(
                400,
                "unknown_parameter",
                "POST /statements takes no parameters (the alternate request syntax is not supported)",
            )
        body = await self._json_body(request)
        batch = body if isinstance(body, list) else [body]
        if not batch:
            raise HttpError(400, "empty_batch", "POST /statements got an empty array")
        statements = [
            validate_statement(
                item, f"statement[{index}]" if isinstance(body, list) else "statement", xapi_version=version
            )
            for index, item in enumerate(batch)
        ]
        ids = await run_in_threadpool(
            self.store.store_statements,
            tenant,
            statements,
            authority=authority,
            version=_stored_version(version),
        )
        return JSONResponse(ids, headers=self._xapi_headers(version))

    async def _get_statements(self, request: Request, tenant: str, version: str) -> Response:
        params = request.query_params
        unknown = set(params) - QUERY_PARAMS
        if unknown:
            raise HttpError(400, "unknown_parameter", f"GET /statements does not take {sorted(unknown)}")
        statement_format = params.get("format", "exact")
        if statement_format not in ("ids", "exact", "canonical"):
            raise HttpError(400, "invalid_parameter", f"format {statement_format!r} is not ids, exact or canonical")
        attachments = _boolean(params, "attachments")
        if "statementId" in params or "voidedStatementId" in params:
            return await self._get_single(request, tenant, version, statement_format, attachments)
        for name in ("related_activities", "related_agents"):
            if _boolean(params, name):
                raise HttpError(400, "not_supported", f"{name}=true is not supported by this sandbox LRS")
        query = _statement_query(params)
        limit = _limit(params, self.settings.max_limit)
        after = _decode_more(params["more"]) if "more" in params else None
        rows = await run_in_threadpool(self._page, tenant, query, after, limit + 1)
        more = ""
        if len(rows) > limit:
            rows = rows[:limit]
            last = rows[-1]
            carried = [(k, v) for k, v in params.multi_items() if k != "more"]
            more = f"/{tenant}/xAPI/statements?" + urlencode(
                [("more", _encode_more(last.stored_us, last.seq)), *carried]
            )
        headers = self._xapi_headers(version)
        if "descending_pages" in self.settings.quirks and query.ascending:
            rows = rows[::-1]  # the cursor above came from the real last row; only the page is reversed
        if statement_format == "exact":
            # Stored JSON is spliced in as-is: exact means byte-for-byte what was stored, and it is fast.
            payload = '{"statements":[' + ",".join(r.body for r in rows) + '],"more":' + json.dumps(more) + "}"
        else:
            language = request.headers.get("accept-language")
            payload = json.dumps(
                {
                    "statements": [render(json.loads(r.body), statement_format, language) for r in rows],
                    "more": more,
                }
            )
        return _json_or_multipart(payload, attachments, headers)

    async def _get_single(
        self, request: Request, tenant: str, version: str, statement_format: str, attachments: bool
    ) -> Response:
        params = request.query_params
        if "statementId" in params and "voidedStatementId" in params:
            raise HttpError(400, "invalid_parameter", "statementId and voidedStatementId cannot be used together")
        extra = set(params) - SINGLE_PARAMS
        if extra:
            raise HttpError(
                400,
                "invalid_parameter",
                f"only format and attachments may join statementId/voidedStatementId, got {sorted(extra)}",
            )
        voided = "voidedStatementId" in params
        statement_id = params["voidedStatementId" if voided else "statementId"]
        if not UUID_RE.match(statement_id):
            raise HttpError(400, "invalid_parameter", f"{statement_id!r} is not a UUID")
        row = await run_in_threadpool(self.store.get_statement, tenant, statement_id, voided=voided)
        headers = self._xapi_headers(version)
        if row is None:
            hint = (
                "no voided statement with this id"
                if voided
                else "no statement with this id (voided ones need voidedStatementId)"
            )
            return JSONResponse({"error": "not_found", "message": hint}, 404, headers=headers)
        headers["Last-Modified"] = format_datetime(parse_iso(micros_to_iso(row.stored_us)), usegmt=True)
        if statement_format == "exact":
            payload = row.body
        else:
            payload = json.dumps(render(json.loads(row.body), statement_format, request.headers.get("accept-language")))
        return _json_or_multipart(payload, attachments, headers)

    # -- LMS REST ------------------------------------------------------------------------

    async def lms_completions(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        expected = self.settings.lms_tokens.get(tenant)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if expected is None or scheme.lower() != "bearer" or not hmac.compare_digest(token.strip(), expected):
            return JSONResponse(
                {"error": "unauthorized", "message": "a valid Bearer token for this tenant is required"},
                401,
                headers={"WWW-Authenticate": 'Bearer realm="lms"'},
            )
        try:
            page = await run_in_threadpool(completions_page, self.store, tenant, request.query_params)
        except ValueError as exc:
            return JSONResponse({"error": "invalid_parameter", "message": str(exc)}, 400)
        return JSONResponse(page)

    # -- admin ---------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def reset(self, request: Request) -> Response:
        await run_in_threadpool(self.store.reset)
        return JSONResponse({"status": "reset"})

    def _admin_authority(self, tenant: str) -> dict[str, Any]:
        key = self.settings.credentials.get(tenant, ("sandbox-admin", ""))[0]
        return authority_for(tenant, key)

    async def seed(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        body = await request.json() if await request.body() else {}
        try:
            workers, seed = int(body["workers"]), int(body.get("seed", 1))
        except (KeyError, TypeError, ValueError):
            return JSONResponse({"error": "invalid_request", "message": 'body must be {"workers": N, "seed": S}'}, 400)
        counts = await run_in_threadpool(
            seed_tenant,
            self.store,
            tenant,
            workers=workers,
            seed=seed,
            authority=self._admin_authority(tenant),
        )
        return JSONResponse({"tenant": tenant, "added": counts})

    async def inject_statements(self, request: Request) -> Response:
        """Store statements as given, without validation: how tests plant bad records."""
        tenant = request.path_params["tenant"]
        body = await request.json()
        items = body if isinstance(body, list) else [body]
        added = await run_in_threadpool(self.store.store_raw, tenant, items, authority=self._admin_authority(tenant))
        return JSONResponse({"tenant": tenant, "added": added})

    async def inject_completions(self, request: Request) -> Response:
        """Upsert LMS REST completion items as given (an update moves the item's updated_at)."""
        tenant = request.path_params["tenant"]
        body = await request.json()
        items = body if isinstance(body, list) else [body]
        try:
            written = await run_in_threadpool(self.store.store_completions, tenant, items, replace=True)
        except StatementInvalid as exc:
            return JSONResponse({"error": "invalid_completion", "message": str(exc)}, 400)
        return JSONResponse({"tenant": tenant, "written": written})

    async def stats(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        return JSONResponse(await run_in_threadpool(self.store.statement_counts, tenant))


def _stored_version(negotiated: str) -> str:
    # 1.0.x statements are stored with version "1.0.0" as the 1.0.3 spec prescribes.
    return "2.0.0" if negotiated.startswith("2.") else "1.0.0"


def _boolean(params: Any, name: str) -> bool:
    value = params.get(name, "false")
    if value not in ("true", "false"):
        raise HttpError(400, "invalid_parameter", f"{name} must be true or false, got {value!r}")
    return value == "true"


def _limit(params: Any, max_limit: int) -> int:
    raw = params.get("limit", "0")
    if not raw.isdigit():
        raise HttpError(400, "invalid_parameter", f"limit must be a non-negative integer, got {raw!r}")
    limit = int(raw)
    return max_limit if limit == 0 else min(limit, max_limit)


def _statement_query(params: Any) -> StatementQuery:
    keys: dict[str, int] = {}
    if "agent" in params:
        try:
            agent = json.loads(params["agent"])
            validate_agent(agent, "agent")
        except (json.JSONDecodeError, StatementInvalid) as exc:
            raise HttpError(
                400, "invalid_parameter", f"agent must be an Agent or identified Group as JSON: {exc}"
            ) from None
        identity = agent_identity(agent)
        if identity is None:
            raise HttpError(400, "invalid_parameter", "agent filter needs an inverse functional identifier")
        keys["agent"] = key_hash("agent", identity)
    for name in ("verb", "activity"):
        if name in params:
            if not IRI_RE.match(params[name]):
                raise HttpError(400, "invalid_parameter", f"{name} {params[name]!r} is not an IRI")
            keys[name] = key_hash(name, params[name])
    if "registration" in params:
        if not UUID_RE.match(params["registration"]):
            raise HttpError(400, "invalid_parameter", f"registration {params['registration']!r} is not a UUID")
        keys["registration"] = key_hash("registration", params["registration"].lower())
    bounds: dict[str, int | None] = {}
    for name in ("since", "until"):
        try:
            bounds[name] = iso_to_micros(params[name]) if name in params else None
        except TimestampError as exc:
            raise HttpError(400, "invalid_parameter", f"{name}: {exc}") from None
    return StatementQuery(
        keys=keys, since_us=bounds["since"], until_us=bounds["until"], ascending=_boolean(params, "ascending")
    )


def _encode_more(stored_us: int, seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([stored_us, seq]).encode()).decode().rstrip("=")


def _decode_more(token: str) -> tuple[int, int]:
    try:
        stored_us, seq = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(stored_us), int(seq)
    except (ValueError, TypeError, binascii.Error):
        raise HttpError(400, "invalid_parameter", "more token is not one this LRS issued") from None


def _json_or_multipart(payload: str, attachments: bool, headers: dict[str, str]) -> Response:
    if not attachments:
        return Response(payload, media_type="application/json", headers=headers)
    # No raw attachment data is stored, so the multipart answer has the statements part only.
    boundary = "xapi-statements-boundary"
    body = f"--{boundary}\r\nContent-Type: application/json\r\n\r\n{payload}\r\n--{boundary}--\r\n"
    return Response(body, media_type=f'multipart/mixed; boundary="{boundary}"', headers=headers)


def build_app(settings: LrsSettings) -> Starlette:
    """The Starlette app for ``settings`` (without fault injection)."""
    store = LrsStore(settings.database_path)
    api = LrsApi(settings, store)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for tenant, plan in settings.seed_plans.items():
            if store.is_empty(tenant):
                await run_in_threadpool(
                    seed_tenant,
                    store,
                    tenant,
                    workers=plan.workers,
                    seed=plan.seed,
                    authority=api._admin_authority(tenant),
                    live=plan.live,
                )
        yield

    routes = [
        Route("/health", api.health, methods=["GET"]),
        Route("/admin/reset", api.reset, methods=["POST"]),
        Route("/admin/{tenant}/seed", api.seed, methods=["POST"]),
        Route("/admin/{tenant}/statements", api.inject_statements, methods=["POST"]),
        Route("/admin/{tenant}/completions", api.inject_completions, methods=["POST"]),
        Route("/admin/{tenant}/stats", api.stats, methods=["GET"]),
        Route("/{tenant}/xAPI/about", api.about, methods=["GET"]),
        Route("/{tenant}/xAPI/statements", api.statements, methods=["GET", "PUT", "POST"]),
        Route("/{tenant}/lms/api/v1/completions", api.lms_completions, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.store = store
    return app


def create_app() -> FaultInjector:
    """Factory for uvicorn ``--factory``: settings from the environment, faults wrapped around."""
    return FaultInjector(build_app(LrsSettings.from_env()), "lrs")
