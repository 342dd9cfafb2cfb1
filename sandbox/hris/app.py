"""HRIS sandbox: the HTTP contract of docs/architecture.md (HRIS section).

Run: ``python -m uvicorn sandbox.hris.app:create_app --factory --host 127.0.0.1 --port 18702``.

Environment:
- ``SANDBOX_HRIS_TOKENS``: JSON ``{"acme": "<token>", ...}``; a token opens only its tenant.
- ``SANDBOX_DATA_DIR``: state directory (default ``build/sandbox``); state in ``hris.sqlite``,
  file drops under ``hris_drop/<tenant>/``.
- ``SANDBOX_SEED``: JSON ``{"tenants": {"acme": {"workers": 1000, "seed": 7}}}``; seeds a
  tenant at start when it has no workers. ``"national": true`` for a tenant: its workers carry a
  National ID / Iqama and an Arabic name (``sandbox.synth.workforce``), day-N changes too.
- ``SANDBOX_FAULTS_HRIS``: fault switches at start (``sandbox/faults.py``).

Delta export window: ``updated_since <= updated_at < as_of`` (inclusive-exclusive).
Pass the ``as_of`` of a finished export as the next ``updated_since`` and every
change is seen exactly once.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from sandbox.faults import FaultInjector
from sandbox.hris.cursors import CursorError, decode_cursor, encode_cursor
from sandbox.hris.records import (
    CareerEligibility,
    Certification,
    ErasureRequest,
    LeaveRequest,
    PayrollFlag,
    SeedRequest,
    TerminateRequest,
    TransferRequest,
    WebhookTarget,
    Worker,
    iter_csv,
)
from sandbox.hris.store import HrisStore, StaleWriteError
from sandbox.hris.timestamps import parse_iso, to_iso
from sandbox.hris.webhooks import WebhookSender, erasure_event, event, lifecycle_event
from sandbox.synth.changes import iter_changes
from sandbox.synth.workforce import iter_workers

DEFAULT_LIMIT = 500
MAX_LIMIT = 5000
_EXPORT_BATCH = 5000


class HrisSandbox:
    """State and behaviour behind the routes: store, tokens, webhooks, fault switches."""

    def __init__(self, data_dir: Path, tokens: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.tokens = tokens
        self.store = HrisStore(data_dir / "hris.sqlite")
        self.injector: FaultInjector | None = None
        self.webhooks = WebhookSender(self.store, self._drop_webhooks)
        #: Tenants seeded as a national workforce (national ids, Arabic names); day-N changes follow it.
        self.national_tenants: set[str] = set()
        #: PUTs per (tenant, worker, eligibility) since start or reset: one write vs identical resends.
        self.eligibility_puts: dict[tuple[str, str, str], int] = {}

    def _drop_webhooks(self) -> bool:
        return bool(self.injector and self.injector.settings.drop_webhooks)

    # Seeding.

    def seed(self, tenant_id: str, workers: int, seed: int, *, national: bool = False) -> int:
        """Replace the tenant with a fresh synthetic day-0 workforce."""
        (self.national_tenants.add if national else self.national_tenants.discard)(tenant_id)
        return self.store.replace_tenant(tenant_id, workers, seed,
                                         iter_workers(tenant_id, workers, seed, national=national))

    def seed_from_env(self, raw: str) -> None:
        """Seed each tenant of ``SANDBOX_SEED`` that has no workers yet (a restart keeps data)."""
        try:
            tenants = json.loads(raw)["tenants"]
            plans = {name: (int(plan["workers"]), int(plan.get("seed", 1))) for name, plan in tenants.items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RuntimeError(
                f'SANDBOX_SEED must be {{"tenants": {{"<tenant>": {{"workers": N, "seed": S}}}}}}: {exc}'
            ) from exc
        for tenant_id, (workers, seed) in plans.items():
            national = bool(tenants[tenant_id].get("national"))
            if self.store.worker_count(tenant_id) == 0:
                self.seed(tenant_id, workers, seed, national=national)
            elif national:  # a restart keeps the data, and the day-N changes keep its national fields
                self.national_tenants.add(tenant_id)

    # Mutations (each fires the lifecycle webhooks after it commits).

    def put_workers(self, tenant_id: str, workers: list[dict[str, Any]], *, webhook: bool = True) -> list[dict]:
        results = self.store.put_workers(tenant_id, workers)
        events = []
        for previous, stored in results:
            kind = lifecycle_event(previous, stored)
            if kind and webhook:
                events.append(event(kind, tenant_id, stored["employee_id"], stored["updated_at"]))
        self.webhooks.send(tenant_id, events)
        return [stored for _, stored in results]

    # Export.

    def export(
        self, tenant_id: str, updated_since: str | None, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None, int]:
        """One page of the (delta) export: ``(workers, next_cursor, as_of)``."""
        if cursor:
            state = decode_cursor(cursor, kind="workers", tenant_id=tenant_id)
            since, as_of, after = state["s"], state["a"], (state["u"], state["e"])
            if updated_since is not None and parse_iso(updated_since) != since:
                raise CursorError("updated_since differs from the export the cursor belongs to")
        else:
            since = parse_iso(updated_since) if updated_since else 0
            as_of, after = self.store.snapshot(), None
        rows = self.store.export_page(tenant_id, since, as_of, after, limit + 1)
        page = rows[:limit]
        workers = []
        for stamp, _, doc in page:
            worker = json.loads(doc)
            worker["updated_at"] = to_iso(stamp)
            workers.append(worker)
        next_cursor = None
        if len(rows) > limit:
            last_stamp, last_id, _ = page[-1]
            next_cursor = encode_cursor(
                {"k": "workers", "t": tenant_id, "s": since, "a": as_of, "u": last_stamp, "e": last_id}
            )
        return workers, next_cursor, as_of

    def iter_export(self, tenant_id: str, since: int, as_of: int) -> Iterator[dict[str, Any]]:
        """Every worker of the snapshot, streamed in batches (for CSV)."""
        after = None
        while True:
            rows = self.store.export_page(tenant_id, since, as_of, after, _EXPORT_BATCH)
            for stamp, _, doc in rows:
                worker = json.loads(doc)
                worker["updated_at"] = to_iso(stamp)
                yield worker
            if len(rows) < _EXPORT_BATCH:
                return
            after = (rows[-1][0], rows[-1][1])

    def file_drop(self, tenant_id: str, updated_since: str | None) -> dict[str, Any]:
        """Write the CSV export to ``hris_drop/<tenant>/workers_<UTC stamp>.csv``, atomically."""
        since = parse_iso(updated_since) if updated_since else 0
        as_of = self.store.snapshot()
        folder = self.data_dir / "hris_drop" / tenant_id
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.fromtimestamp(as_of / 1_000_000, UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = folder / f"workers_{stamp}.csv"
        partial = folder / f".{target.name}.partial"
        rows = 0

        def counted() -> Iterator[dict[str, Any]]:
            nonlocal rows
            for worker in self.iter_export(tenant_id, since, as_of):
                rows += 1
                yield worker

        with partial.open("w", encoding="utf-8", newline="") as handle:
            for chunk in iter_csv(counted()):
                handle.write(chunk)
        # A reader polling the folder sees a complete file or none: rename is atomic.
        partial.replace(target)
        return {"path": str(target), "rows": rows, "as_of": to_iso(as_of)}


def _tokens_from_env(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        tokens = json.loads(raw)
    except ValueError as exc:
        raise RuntimeError(f"SANDBOX_HRIS_TOKENS is not JSON: {exc}") from exc
    if not isinstance(tokens, dict) or not all(isinstance(v, str) and v for v in tokens.values()):
        raise RuntimeError('SANDBOX_HRIS_TOKENS must map tenant to a non-empty token: {"acme": "<token>"}')
    return tokens


def _page_listing(
    sandbox: HrisSandbox, tenant_id: str, kind: str, cursor: str | None, updated_since: str | None, limit: int
) -> dict[str, Any]:
    if cursor:
        state = decode_cursor(cursor, kind=kind, tenant_id=tenant_id)
        since, after = state["s"], (state["r"], state["e"], state["i"])
    else:
        since, after = (parse_iso(updated_since) if updated_since else 0), None
    rows = sandbox.store.list_writebacks(tenant_id, kind, since=since, after=after, limit=limit + 1)
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        recorded, employee_id, key, _ = page[-1]
        next_cursor = encode_cursor({"k": kind, "t": tenant_id, "s": since, "r": recorded, "e": employee_id, "i": key})
    return {"data": [_writeback_json(kind, row) for row in page], "next_cursor": next_cursor}


# The key each write-back kind is stored under (its last path segment).
_KEY_NAMES = {"certification": "credential_type", "payroll_flag": "flag", "career_eligibility": "eligible_for"}


def _writeback_json(kind: str, row: tuple[int, str, str, str]) -> dict[str, Any]:
    recorded, employee_id, key, doc = row
    key_name = _KEY_NAMES[kind]
    return {"employee_id": employee_id, key_name: key, **json.loads(doc), "recorded_at": to_iso(recorded)}


def tenant_access(tenant: str, request: Request) -> str:
    """The path tenant, once the Bearer token proves access to it (401 unknown token, 403 other tenant)."""
    tokens: dict[str, str] = request.app.state.sandbox.tokens
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "Bearer token required", headers={"WWW-Authenticate": "Bearer"})
    owner = next((t for t, known in tokens.items() if secrets.compare_digest(known, token)), None)
    if owner is None:
        challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"'}
        raise HTTPException(401, "unknown Bearer token", headers=challenge)
    if owner != tenant:
        raise HTTPException(403, f"this token does not open tenant {tenant!r}")
    return tenant


Tenant = Annotated[str, Depends(tenant_access)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def create_app() -> Any:
    """The HRIS sandbox ASGI app (FastAPI wrapped in the fault injector)."""
    data_dir = Path(os.environ.get("SANDBOX_DATA_DIR") or "build/sandbox")
    sandbox = HrisSandbox(data_dir, _tokens_from_env(os.environ.get("SANDBOX_HRIS_TOKENS")))
    if os.environ.get("SANDBOX_SEED"):
        sandbox.seed_from_env(os.environ["SANDBOX_SEED"])

    app = FastAPI(title="credsync HRIS sandbox", version="1.0")
    app.state.sandbox = sandbox

    @app.exception_handler(CursorError)
    async def _bad_cursor(request: Request, exc: CursorError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(ValueError)
    async def _bad_value(request: Request, exc: ValueError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def existing_worker(tenant: str, employee_id: str) -> dict[str, Any]:
        worker = sandbox.store.current_worker(tenant, employee_id)
        if worker is None:
            raise HTTPException(404, f"tenant {tenant!r} has no worker {employee_id!r}")
        return worker

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # Admin (loopback, no auth).

    @app.post("/admin/reset")
    def reset() -> dict[str, str]:
        sandbox.store.reset()
        sandbox.eligibility_puts.clear()
        return {"status": "reset"}

    @app.post("/admin/tenants/{tenant}/seed")
    def seed(tenant: str, body: SeedRequest) -> dict[str, Any]:
        loaded = sandbox.seed(tenant, body.workers, body.seed, national=body.national)
        return {"tenant_id": tenant, "workers": loaded, "seed": body.seed}

    @app.put("/admin/tenants/{tenant}/workers/{employee_id}")
    def put_worker(tenant: str, employee_id: str, body: Worker) -> dict[str, Any]:
        if body.employee_id != employee_id:
            raise HTTPException(422, f"body employee_id {body.employee_id!r} differs from the path {employee_id!r}")
        return sandbox.put_workers(tenant, [body.document()])[0]

    @app.post("/admin/tenants/{tenant}/workers/{employee_id}/terminate")
    def terminate(tenant: str, employee_id: str, body: TerminateRequest | None = None) -> dict[str, Any]:
        request = body or TerminateRequest()
        worker = existing_worker(tenant, employee_id)
        when = request.date or datetime.now(UTC).date()
        worker["employment"].update(status="terminated", termination_date=when.isoformat())
        return sandbox.put_workers(tenant, [worker], webhook=request.webhook)[0]

    @app.post("/admin/tenants/{tenant}/workers/{employee_id}/erasure-request")
    def erasure_request(tenant: str, employee_id: str, body: ErasureRequest | None = None) -> dict[str, Any]:
        """The worker asked to be erased: tell subscribers (``worker.erasure_requested``), then purge them
        here, so no later export or file drop carries them again."""
        request = body or ErasureRequest()
        existing_worker(tenant, employee_id)
        item = erasure_event(tenant, employee_id, to_iso(sandbox.store.snapshot()), request.regulation)
        delivered = sandbox.webhooks.send(tenant, [item]) if request.webhook else 0
        purged = sandbox.store.purge_worker(tenant, employee_id)
        return {"tenant_id": tenant, "event_id": item["event_id"], "type": item["type"],
                "regulation": request.regulation, "due_by": item["due_by"], "delivered": delivered,
                "purged_rows": purged}

    @app.post("/admin/tenants/{tenant}/workers/{employee_id}/leave")
    def leave(tenant: str, employee_id: str, body: LeaveRequest | None = None) -> dict[str, Any]:
        return _status_change(tenant, employee_id, "leave", body or LeaveRequest())

    @app.post("/admin/tenants/{tenant}/workers/{employee_id}/return")
    def return_from_leave(tenant: str, employee_id: str, body: LeaveRequest | None = None) -> dict[str, Any]:
        return _status_change(tenant, employee_id, "active", body or LeaveRequest())

    def _status_change(tenant: str, employee_id: str, status: str, request: LeaveRequest) -> dict[str, Any]:
        worker = existing_worker(tenant, employee_id)
        when = request.date or datetime.now(UTC).date()
        worker["employment"].update(status=status, status_effective_date=when.isoformat())
        return sandbox.put_workers(tenant, [worker], webhook=request.webhook)[0]

    @app.post("/admin/tenants/{tenant}/workers/{employee_id}/transfer")
    def transfer(tenant: str, employee_id: str, body: TransferRequest) -> dict[str, Any]:
        worker = existing_worker(tenant, employee_id)
        when = body.date or datetime.now(UTC).date()
        job = body.model_dump(include={"department", "job_title", "manager_id", "location"}, exclude_unset=True)
        worker["employment"].update(**job, job_effective_date=when.isoformat())
        return sandbox.put_workers(tenant, [worker], webhook=body.webhook)[0]

    @app.post("/admin/tenants/{tenant}/changes/{day}")
    def apply_changes(tenant: str, day: int) -> dict[str, Any]:
        seeded = sandbox.store.tenant_seed(tenant)
        if seeded is None:
            raise HTTPException(409, f"tenant {tenant!r} was not seeded from sandbox.synth; seed it first")
        if day < 1:
            raise HTTPException(422, f"day must be >= 1 (day 0 is the seeded workforce), got {day}")
        if sandbox.store.changes_applied(tenant, day):
            return {"tenant_id": tenant, "day": day, "applied": 0, "already_applied": True, "by_kind": {}}
        changes = list(iter_changes(tenant, seeded[0], seeded[1], day,
                                    national=tenant in sandbox.national_tenants))
        sandbox.put_workers(tenant, [change["worker"] for change in changes])
        sandbox.store.mark_changes_applied(tenant, day, len(changes))
        by_kind: dict[str, list[str]] = {}
        for change in changes:
            by_kind.setdefault(change["kind"], []).append(change["employee_id"])
        return {"tenant_id": tenant, "day": day, "applied": len(changes), "already_applied": False, "by_kind": by_kind}

    @app.put("/admin/tenants/{tenant}/webhook")
    def set_webhook(tenant: str, body: WebhookTarget) -> dict[str, str]:
        sandbox.store.set_webhook(tenant, body.url, body.secret)
        return {"tenant_id": tenant, "url": body.url}

    @app.delete("/admin/tenants/{tenant}/webhook")
    def delete_webhook(tenant: str) -> dict[str, str]:
        sandbox.store.delete_webhook(tenant)
        return {"tenant_id": tenant}

    @app.get("/admin/tenants/{tenant}/webhook-deliveries")
    def webhook_deliveries(tenant: str, limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> dict[str, Any]:
        return {"data": sandbox.store.deliveries(tenant, limit)}

    @app.post("/admin/tenants/{tenant}/filedrop")
    def file_drop(tenant: str, updated_since: str | None = None) -> dict[str, Any]:
        return sandbox.file_drop(tenant, updated_since)

    # Business API (Bearer).

    @app.get("/api/v1/tenants/{tenant}/workers")
    def list_workers(
        tenant: Tenant, updated_since: str | None = None, cursor: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> dict[str, Any]:
        workers, next_cursor, as_of = sandbox.export(tenant, updated_since, cursor, limit)
        return {"data": workers, "next_cursor": next_cursor, "as_of": to_iso(as_of)}

    @app.get("/api/v1/tenants/{tenant}/workers.csv")
    def workers_csv(tenant: Tenant, updated_since: str | None = None) -> StreamingResponse:
        since = parse_iso(updated_since) if updated_since else 0
        as_of = sandbox.store.snapshot()
        return StreamingResponse(
            iter_csv(sandbox.iter_export(tenant, since, as_of)),
            media_type="text/csv; charset=utf-8",
            headers={"X-HRIS-As-Of": to_iso(as_of)},
        )

    @app.get("/api/v1/tenants/{tenant}/workers/{employee_id}")
    def get_worker(tenant: Tenant, employee_id: str) -> dict[str, Any]:
        worker = existing_worker(tenant, employee_id)
        store = sandbox.store
        worker["certifications"] = [
            _writeback_json("certification", row)
            for row in store.list_writebacks(tenant, "certification", employee_id=employee_id)
        ]
        worker["payroll_flags"] = [
            _writeback_json("payroll_flag", row)
            for row in store.list_writebacks(tenant, "payroll_flag", employee_id=employee_id)
        ]
        worker["career_eligibility"] = [
            _writeback_json("career_eligibility", row)
            for row in store.list_writebacks(tenant, "career_eligibility", employee_id=employee_id)
        ]
        return worker

    def put_writeback(tenant: str, kind: str, employee_id: str, key: str, doc: dict, source: int | None) -> Any:
        existing_worker(tenant, employee_id)
        try:
            created, changed, recorded = sandbox.store.put_writeback(tenant, kind, employee_id, key, doc, source)
        except StaleWriteError as exc:
            return JSONResponse(
                {"detail": f"{kind} {key!r} of {employee_id!r}: {exc}", "current": exc.current}, status_code=409
            )
        key_name = _KEY_NAMES[kind]
        body = {"employee_id": employee_id, key_name: key, **doc, "recorded_at": to_iso(recorded), "changed": changed}
        return JSONResponse(body, status_code=201 if created else 200)

    @app.put("/api/v1/tenants/{tenant}/workers/{employee_id}/certifications/{credential_type}")
    def put_certification(tenant: Tenant, employee_id: str, credential_type: str, body: Certification) -> Any:
        doc = body.model_dump(mode="json")
        return put_writeback(tenant, "certification", employee_id, credential_type, doc, parse_iso(body.updated_at))

    @app.put("/api/v1/tenants/{tenant}/workers/{employee_id}/payroll-flags/{flag}")
    def put_payroll_flag(tenant: Tenant, employee_id: str, flag: str, body: PayrollFlag) -> Any:
        return put_writeback(tenant, "payroll_flag", employee_id, flag, body.model_dump(mode="json"), None)

    @app.put("/api/v1/tenants/{tenant}/workers/{employee_id}/career-eligibility/{eligible_for}")
    def put_career_eligibility(tenant: Tenant, employee_id: str, eligible_for: str, body: CareerEligibility) -> Any:
        # Counted per (tenant, worker, eligibility) so tests can tell one write from an identical resend.
        doc = body.model_dump(mode="json")
        sandbox.eligibility_puts[(tenant, employee_id, eligible_for)] = (
            sandbox.eligibility_puts.get((tenant, employee_id, eligible_for), 0) + 1)
        return put_writeback(tenant, "career_eligibility", employee_id, eligible_for, doc, None)

    @app.get("/api/v1/tenants/{tenant}/career-eligibility")
    def list_career_eligibility(
        tenant: Tenant, cursor: str | None = None, updated_since: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> dict[str, Any]:
        return _page_listing(sandbox, tenant, "career_eligibility", cursor, updated_since, limit)

    @app.get("/admin/tenants/{tenant}/career-eligibility-puts")
    def career_eligibility_puts(tenant: str) -> dict[str, Any]:
        """How many PUTs each eligibility received since start or reset (identical resends included)."""
        return {"data": [{"employee_id": e, "eligible_for": k, "puts": n}
                         for (t, e, k), n in sorted(sandbox.eligibility_puts.items()) if t == tenant]}

    @app.get("/api/v1/tenants/{tenant}/certifications")
    def list_certifications(
        tenant: Tenant, cursor: str | None = None, updated_since: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> dict[str, Any]:
        return _page_listing(sandbox, tenant, "certification", cursor, updated_since, limit)

    @app.get("/api/v1/tenants/{tenant}/payroll-flags")
    def list_payroll_flags(
        tenant: Tenant, cursor: str | None = None, updated_since: str | None = None, limit: Limit = DEFAULT_LIMIT
    ) -> dict[str, Any]:
        return _page_listing(sandbox, tenant, "payroll_flag", cursor, updated_since, limit)

    injector = FaultInjector(app, "hris")
    sandbox.injector = injector
    return injector
