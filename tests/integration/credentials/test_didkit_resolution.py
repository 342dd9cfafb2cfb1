"""didkit (PyPI, Spruce's Rust ssi) resolves our did:web issuers over loopback HTTP, independently of credsync.

didkit 0.3.3 cannot verify VC Data Model 2.0 credentials (it rejects the v2 context; see
docs/credentials.md), so here it is the independent *DID resolver*: it fetches and parses the DID
document credsync published, and the key it dereferences for a credential's ``kid`` is the one the
signature is checked with. didkit resolves ``did:web:localhost`` over plain HTTP on port 80 and does
not accept a port in the DID, so this module needs port 80 on loopback (skipped, saying so, without it).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date

import pytest
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from credsync.credentials.issuance import issue_credentials
from credsync.credentials.keys import generate_signing_key, parse_signing_key
from credsync.credentials.rules import load_rules
from sandbox.issuer_web.server import start
from tests.integration.credentials.conftest import add_completion, add_worker, tokens

didkit = pytest.importorskip("didkit")


@pytest.fixture(scope="module")
def port80_origin(tmp_path_factory):
    root = tmp_path_factory.mktemp("did-web-80")
    try:
        server = start(root, port=80)
    except OSError as exc:
        pytest.skip(f"port 80 on 127.0.0.1 is not available ({exc}); didkit only resolves did:web:localhost there")
    yield root
    server.shutdown()
    server.server_close()


def run(coroutine_factory):
    async def call():
        return await coroutine_factory()

    return asyncio.run(call())


def test_didkit_resolves_the_published_document_and_only_the_signing_key(conn, port80_origin, monkeypatch) -> None:
    monkeypatch.setenv("CREDSYNC_ISSUER_BASE_URL", "http://localhost")
    monkeypatch.setenv("CREDSYNC_DID_WEB_STORE", port80_origin.as_uri())
    tenant = "t" + uuid.uuid4().hex[:10]
    key = parse_signing_key(generate_signing_key())
    add_worker(conn, tenant, "E1")
    add_completion(conn, tenant, "E1", "FORKLIFT-200", "2025-05-01T10:00:00", score=90)
    issue_credentials(conn, tenant_id=tenant, rules=load_rules(), signing_key=key, as_of=date(2025, 6, 1))
    [genuine] = tokens(conn, tenant).values()
    header = jws.extract_compact(genuine.encode()).protected
    did = f"did:web:localhost:issuers:{tenant}"
    assert header["kid"] == f"{did}#{key.key_id}"

    document = json.loads(run(lambda: didkit.resolve_did(did, "{}")))
    assert document["id"] == did
    assert header["kid"] in document["assertionMethod"]
    method = json.loads(run(lambda: didkit.dereference_did_url(header["kid"], "{}")))
    method = method[1] if isinstance(method, list) else method
    assert method["publicKeyJwk"]["x"] == key.public_jwk()["x"]

    didkit_key = OKPKey.import_key(method["publicKeyJwk"])
    jws.deserialize_compact(genuine, didkit_key, algorithms=["EdDSA"])
    forger = parse_signing_key(generate_signing_key())
    forged = jws.serialize_compact(header, jws.extract_compact(genuine.encode()).payload,
                                   OKPKey.import_key(forger.private_jwk), algorithms=["EdDSA"])
    with pytest.raises(JoseError):
        jws.deserialize_compact(forged, didkit_key, algorithms=["EdDSA"])
    with pytest.raises(didkit.DIDKitException):
        run(lambda: didkit.dereference_did_url(f"{did}#{forger.key_id}", "{}"))
