"""Credential definitions registry sandbox, modelled on the Credential Engine Registry's Assistant API.

What credsync relies on, as the real registry behaves:

- ``POST /assistant/credential/publish`` with ``Authorization: ApiToken <key>`` and
  ``{"PublishForOrganizationIdentifier": <org CTID>, "DefaultLanguage": "en-US", "Credential": {...}}``.
  The publisher mints the CTID (``ce-`` + a lowercase UUID) and sends it with every publish; the
  same CTID again is an update of the same resource (a new version), never a second resource.
- Validation problems answer **200** with ``{"Successful": false, "Messages": [...]}`` — the
  Assistant API's habit; a client that only checks the status code believes a refused publish.
- Nothing is deleted: a definition is retired by publishing ``LifeCycleStatusType`` ``lifeCycle:Ceased``.
- Definitions carry no personal data: unknown fields are refused by name.
- ``GET /resources/{ctid}`` answers the published JSON-LD (``ceterms:*``); ``GET /sandbox/publishes``
  lists every accepted publish (for tests). State is in memory; faults: ``sandbox/faults.py`` (``ctdl``).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from sandbox.faults import FaultInjector

CTID = re.compile(r"^ce-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CREDENTIAL_TYPES = {"ceterms:Certification", "ceterms:Certificate", "ceterms:License", "ceterms:DigitalBadge"}
LIFECYCLE = {"lifeCycle:Active", "lifeCycle:Ceased", "lifeCycle:Suspended", "lifeCycle:UpcomingRelease"}
REQUIRED = ("CTID", "Name", "Description", "CredentialType", "SubjectWebpage", "LifeCycleStatusType", "InLanguage")
OPTIONAL = ("Keyword", "EstimatedDuration", "Renewal", "AvailableOnlineAt")
BASE = "https://sandbox.credentialengineregistry.org"


def create_app(api_keys: dict[str, str] | None = None) -> FaultInjector:
    """``api_keys``: API key -> the organisation CTID it may publish for."""
    keys = dict(api_keys or {})
    resources: dict[str, dict[str, Any]] = {}
    publishes: list[dict[str, Any]] = []
    lock = threading.Lock()
    app = FastAPI(title="credential definitions registry sandbox", docs_url=None, redoc_url=None)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/assistant/credential/publish")
    async def publish(request: Request) -> JSONResponse:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        org = keys.get(key.strip()) if scheme == "ApiToken" else None
        if org is None:
            return JSONResponse({"Successful": False, "Messages": ["Error: a valid ApiToken is required"]},
                                status_code=401)
        try:
            body = await request.json()
        except ValueError:
            return _refused(["Error: the request body is not JSON"])
        messages = _validate(body, org)
        if messages:
            return _refused(messages)
        credential = body["Credential"]
        ctid = credential["CTID"]
        with lock:
            previous = resources.get(ctid)
            if previous is not None and previous["ceterms:ownedBy"] != [f"{BASE}/resources/{org}"]:
                return _refused([f"Error: CTID {ctid} belongs to another organization"])
            version = (previous["sandbox:version"] + 1) if previous else 1
            resources[ctid] = _graph(credential, org, body.get("DefaultLanguage", "en-US"), version)
            publishes.append({"ctid": ctid, "version": version, "lifecycle": credential["LifeCycleStatusType"]})
        return JSONResponse({"Successful": True, "Messages": [], "CTID": ctid,
                             "EnvelopeUrl": f"{BASE}/envelopes/{ctid}", "GraphUrl": f"{BASE}/graph/{ctid}",
                             "CredentialFinderUrl": f"{BASE}/credential/{ctid}"})

    @app.get("/resources/{ctid}")
    def resource(ctid: str) -> JSONResponse:
        with lock:
            found = resources.get(ctid)
        if found is None:
            return JSONResponse({"error": f"no resource {ctid}"}, status_code=404)
        return JSONResponse(found)

    @app.get("/sandbox/publishes")
    def listing() -> dict[str, Any]:
        with lock:
            return {"publishes": list(publishes), "resources": len(resources)}

    return FaultInjector(app, "ctdl")


def _refused(messages: list[str]) -> JSONResponse:
    # The Assistant API answers 200 for a publish it refuses; only Successful says so.
    return JSONResponse({"Successful": False, "Messages": messages}, status_code=200)


def _validate(body: Any, org: str) -> list[str]:
    if not isinstance(body, dict) or not isinstance(body.get("Credential"), dict):
        return ["Error: Credential is required"]
    messages = []
    if body.get("PublishForOrganizationIdentifier") != org:
        messages.append("Error: the ApiToken may not publish for PublishForOrganizationIdentifier")
    credential = body["Credential"]
    unknown = sorted(set(credential) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        messages.append(f"Error: unknown properties {', '.join(unknown)}")
    messages += [f"Error: {name} is required" for name in REQUIRED if not credential.get(name)]
    if credential.get("CTID") and not CTID.match(str(credential["CTID"])):
        messages.append(f"Error: invalid CTID {credential['CTID']!r} (ce- followed by a lowercase UUID)")
    if credential.get("CredentialType") and credential["CredentialType"] not in CREDENTIAL_TYPES:
        messages.append(f"Error: unknown CredentialType {credential['CredentialType']!r}")
    if credential.get("LifeCycleStatusType") and credential["LifeCycleStatusType"] not in LIFECYCLE:
        messages.append(f"Error: unknown LifeCycleStatusType {credential['LifeCycleStatusType']!r}")
    return messages


def _graph(credential: dict[str, Any], org: str, language: str, version: int) -> dict[str, Any]:
    ctid = credential["CTID"]
    return {
        "@context": "https://credreg.net/ctdl/schema/context/json",
        "@id": f"{BASE}/resources/{ctid}",
        "@type": credential["CredentialType"],
        "ceterms:ctid": ctid,
        "ceterms:name": {language: credential["Name"]},
        "ceterms:description": {language: credential["Description"]},
        "ceterms:subjectWebpage": credential["SubjectWebpage"],
        "ceterms:inLanguage": credential["InLanguage"],
        "ceterms:lifeCycleStatusType": {"@type": "ceterms:CredentialAlignmentObject",
                                        "ceterms:targetNode": credential["LifeCycleStatusType"]},
        "ceterms:ownedBy": [f"{BASE}/resources/{org}"],
        **({"ceterms:keyword": {language: credential["Keyword"]}} if credential.get("Keyword") else {}),
        **({"ceterms:renewal": credential["Renewal"]} if credential.get("Renewal") else {}),
        "sandbox:version": version,
    }
