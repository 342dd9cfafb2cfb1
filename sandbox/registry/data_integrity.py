"""Verification of Data Integrity credentials (embedded proof, cryptosuite ``eddsa-rdfc-2022``) for ``/v1/verify``.

The same checks, in the same order, as the vc+jwt path in ``verification.py``: issuer on the trust list,
the proof's ``verificationMethod`` a key the issuer's DID document lists for assertion (a retired key only
for proofs ``created`` before its retirement), then the proof itself. The proof is checked by
``openbadgeslib``'s OB 3.0 Data Integrity verifier (PyPI; RDFC-1.0 over its own pinned contexts, never
fetched, and its check that the JSON is exactly what the proof signs), with the key this module resolved
pinned, so a registry does not rely on the issuer's code to check the issuer's proofs.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sandbox.registry.didkey import DidKeyError, did_key_to_jwk
from sandbox.registry.didweb import ResolutionError, assertion_key

if TYPE_CHECKING:
    from sandbox.registry.verification import VerificationResult

MAX_DOCUMENT_BYTES = 256 * 1024


def is_data_integrity(credential: Any) -> bool:
    return isinstance(credential, dict) or (isinstance(credential, str) and credential.lstrip()[:1] in ("{", "["))


def text_of(credential: str | dict[str, Any]) -> str:
    """The text a certificate would carry for this credential (credsync's compact JSON form)."""
    if isinstance(credential, str):
        return credential.strip()
    return json.dumps(credential, separators=(",", ":"), ensure_ascii=False)


def _pem(jwk: dict[str, str]) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
    return Ed25519PublicKey.from_public_bytes(raw).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def signed_document(credential: str | dict[str, Any], trusted: frozenset[str],
                    result: VerificationResult) -> dict[str, Any] | None:
    """Trust, issuer key and proof; the credential document when all of them hold."""
    from openbadgeslib.ob3.ldp import OB3LdpVerifier
    from openbadgeslib.ob3.verifier import OB3VerificationError

    from sandbox.registry.verification import _issuer_of

    if isinstance(credential, str):
        if len(credential.encode("utf-8")) > MAX_DOCUMENT_BYTES:
            result.reasons.append(f"credential is larger than {MAX_DOCUMENT_BYTES} bytes")
            return None
        try:
            document = json.loads(credential)
        except ValueError as exc:
            result.reasons.append(f"credential is neither a compact JWS nor a JSON document ({exc})")
            return None
    else:
        document = credential
    if not isinstance(document, dict):
        result.reasons.append("a Data Integrity credential must be a JSON object")
        return None
    result.issuer = _issuer_of(document)
    if result.issuer is None:
        result.reasons.append("credential names no issuer")
        return None
    if result.issuer not in trusted:
        result.reasons.append(f"issuer {result.issuer} is not on the registry's trust list")
        return None
    proofs = document.get("proof")
    proofs = proofs if isinstance(proofs, list) else [proofs]
    if len(proofs) != 1 or not isinstance(proofs[0], dict):
        result.reasons.append("credential must carry exactly one embedded proof")
        return None
    proof = proofs[0]
    if (proof.get("type"), proof.get("cryptosuite")) != ("DataIntegrityProof", "eddsa-rdfc-2022"):
        result.reasons.append(f"proof {proof.get('type')!r}/{proof.get('cryptosuite')!r} is not accepted"
                              " (use DataIntegrityProof/eddsa-rdfc-2022)")
        return None
    method = proof.get("verificationMethod")
    if not isinstance(method, str) or method.split("#", 1)[0] != result.issuer or "#" not in method:
        result.reasons.append(f"verificationMethod {method!r} does not belong to issuer {result.issuer!r}")
        return None
    retired_at = None
    try:
        if result.issuer.startswith("did:web:"):
            jwk, retired_at = assertion_key(result.issuer, method)
        else:
            jwk = did_key_to_jwk(result.issuer)
    except (DidKeyError, ResolutionError) as exc:
        result.reasons.append(f"issuer cannot be resolved: {exc}")
        return None
    if (jwk.get("kty"), jwk.get("crv")) != ("OKP", "Ed25519"):
        result.reasons.append(f"eddsa-rdfc-2022 needs an Ed25519 key; {method} is {jwk.get('crv')}")
        return None
    try:
        OB3LdpVerifier(pubkey_pem=_pem(jwk), issuer_did=result.issuer).verify(document, check_status=False)
    except (OB3VerificationError, ValueError) as exc:
        result.reasons.append(f"proof does not verify with the issuer's key ({exc})")
        return None
    if retired_at is not None:
        try:
            created = datetime.fromisoformat(str(proof.get("created")).replace("Z", "+00:00")).timestamp()
        except ValueError:
            created = None
        if created is None or created >= retired_at:
            result.reasons.append(f"signed with key {method} after the issuer retired it")
            return None
    return document
