"""Sandbox administration: no auth, loopback only, not part of the contract.

Reset, clients, webhook targets, token lifetime, rate limit, changes made in the marketplace itself (which
send the member webhooks) and ``GET /admin/state`` with everything stored. ``/admin/faults`` is served by
:class:`sandbox.marketplace.faults.ConnectionFaults` in front of the app.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool

from sandbox.marketplace.auth import Authority
from sandbox.marketplace.config import MarketplaceSettings, parse_client
from sandbox.marketplace.problems import ProblemError
from sandbox.marketplace.store import MarketplaceStore, now_text, profile_of
from sandbox.marketplace.webhooks import WebhookSender, member_event


def add_admin_routes(api: FastAPI, settings: MarketplaceSettings, store: MarketplaceStore, authority: Authority,
                     webhooks: WebhookSender) -> None:
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
                _created, stored = store.put_member(db, tenant, {**profile_of(member), **changes,
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
