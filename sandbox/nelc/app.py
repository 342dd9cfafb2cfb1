"""National LRS sandbox, modelled on NELC's xAPI LRS (github.com/nelc/NELC-Integration).

What credsync relies on, as an xAPI 1.0.3 LRS with NELC's auto-validation behaves:

- ``POST /xapi/statements`` with HTTP Basic (the key and secret NELC issues per platform), a
  statement or a list of them, each with its own ``id``. **200** with the list of ids when every
  statement passes; the batch is all or nothing, as xAPI requires.
- A statement id the LRS already holds with the same content is accepted again and stored once
  (a lost answer resent); the same id with other content is **409** naming the id.
- Each statement is checked against NELC's validation checklist *server-side*, against what the
  LRS holds for that platform (sandbox/nelc/checks.py: its own reading of the published list, not
  credsync's client code, so the two check each other);
  a violation is **400** with ``{"error", "rule", "statement_id"}`` naming the rule.
- ``GET /xapi/statements?statementId=`` answers one statement; ``GET /sandbox/received`` how often
  each id was received and how many are stored (for tests). Faults:
  ``sandbox/faults.py`` (``nelc``): 5xx, resets after the work is done (lost answers), latency.
- State: run as a service (credentials from the environment, ``SANDBOX_DATA_DIR`` set, as the
  launcher starts it), every receipt and stored statement is appended to ``<data dir>/nelc.jsonl``
  and replayed at start, so a restart keeps what the LRS holds, as the other sandboxes keep theirs
  (a statement sent after a restart is checked against the registrations before it). With
  ``create_app``'s ``credentials`` argument (tests), state is in memory.
- Credentials: env ``SANDBOX_NELC_CREDENTIALS`` (JSON ``{key: [secret, platform]}``) or ``create_app``'s argument.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import secrets
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sandbox.faults import FaultInjector
from sandbox.nelc.checks import Ledger, digest

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def create_app(credentials: dict[str, tuple[str, str]] | None = None) -> FaultInjector:
    """``credentials``: key -> (secret, platform key); default from env ``SANDBOX_NELC_CREDENTIALS``."""
    journal: Path | None = None
    if credentials is None:
        raw = json.loads(os.environ.get("SANDBOX_NELC_CREDENTIALS") or "{}")
        credentials = {key: (value[0], value[1]) for key, value in raw.items()}
        if os.environ.get("SANDBOX_DATA_DIR"):
            journal = Path(os.environ["SANDBOX_DATA_DIR"]) / "nelc.jsonl"
    creds = dict(credentials)
    ledgers: dict[str, Ledger] = {}
    stored: dict[str, dict[str, Any]] = {}
    received: Counter[str] = Counter()
    lock = threading.Lock()
    if journal is not None and journal.is_file():
        for line in journal.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            received.update(entry.get("received", []))
            for platform, statement in entry.get("stored", []):
                ledgers.setdefault(platform, Ledger(platform=platform)).store(statement)
                stored[statement["id"]] = {**statement, "stored": "sandbox"}

    def record(receipts: list[str], platform: str, new: list[dict[str, Any]]) -> None:
        """Append this request's receipts and newly stored statements to the journal (under ``lock``)."""
        if journal is None or not (receipts or new):
            return
        journal.parent.mkdir(parents=True, exist_ok=True)
        with journal.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"received": receipts, "stored": [[platform, st] for st in new]}) + "\n")
    app = FastAPI(title="national LRS sandbox (NELC)", docs_url=None, redoc_url=None)

    def platform_of(request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            key, _, secret = base64.b64decode(token).decode().partition(":")
        except ValueError:
            return None
        known = creds.get(key)
        return known[1] if known and secrets.compare_digest(known[0], secret) else None

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/xapi/statements")
    async def post(request: Request) -> JSONResponse:
        platform = platform_of(request)
        if platform is None:
            return JSONResponse({"error": "unauthorized"}, status_code=401,
                                headers={"WWW-Authenticate": 'Basic realm="nelc"'})
        try:
            body = await request.json()
        except ValueError:
            return _refused("xapi_invalid", "the body is not JSON")
        batch = body if isinstance(body, list) else [body]
        with lock:
            receipts: list[str] = []
            try:
                return _post_batch(platform, batch, receipts)
            finally:
                record(receipts, platform, [])

    def _post_batch(platform: str, batch: list[Any], receipts: list[str]) -> JSONResponse:
        """The batch, all or nothing (under ``lock``); ``receipts`` collects the ids received."""
        trial = copy.deepcopy(ledgers.setdefault(platform, Ledger(platform=platform)))
        ids, new = [], []
        for statement in batch:
            problem = _shape(statement)
            if problem:
                return _refused("xapi_invalid", problem, statement)
            sid = statement["id"]
            received[sid] += 1
            receipts.append(sid)
            held = trial.hashes.get(sid)
            if held is not None and held != digest(statement):
                return JSONResponse({"error": f"statement {sid} exists with other content", "rule":
                                     "statement_id_conflict", "statement_id": sid}, status_code=409)
            if held is None:
                found = trial.check(statement)
                if found:
                    return _refused(found[0], found[1], statement)
                trial.store(statement)
                new.append(statement)
            ids.append(sid)
        ledgers[platform] = trial
        for statement in new:
            stored[statement["id"]] = {**statement, "stored": "sandbox"}
        record(list(receipts), platform, new)
        receipts.clear()  # journalled with the statements
        return JSONResponse(ids)

    @app.get("/xapi/statements")
    def get(statementId: str | None = None) -> JSONResponse:
        with lock:
            if statementId is None:
                return JSONResponse({"statements": list(stored.values()), "more": ""})
            found = stored.get(statementId)
        if found is None:
            return JSONResponse({"error": f"no statement {statementId}"}, status_code=404)
        return JSONResponse(found)

    @app.get("/sandbox/received")
    def listing() -> dict[str, Any]:
        with lock:
            return {"received": dict(received), "stored": sorted(stored)}

    return FaultInjector(app, "nelc")


def _shape(statement: Any) -> str | None:
    if not isinstance(statement, dict):
        return "a statement must be an object"
    if not isinstance(statement.get("id"), str) or not UUID.match(statement["id"]):
        return "statement id must be a UUID (credsync sends its own ids)"
    for key in ("actor", "verb", "object"):
        if not isinstance(statement.get(key), dict):
            return f"statement {statement['id']}: {key} is required"
    actor = statement["actor"]
    if not (actor.get("mbox") or actor.get("account") or actor.get("openid") or actor.get("mbox_sha1sum")):
        return f"statement {statement['id']}: the actor needs an identifier (account, mbox, ...)"
    return None


def _refused(rule: str, detail: str, statement: Any = None) -> JSONResponse:
    sid = statement.get("id") if isinstance(statement, dict) else None
    return JSONResponse({"error": detail, "rule": rule, "statement_id": sid}, status_code=400)
