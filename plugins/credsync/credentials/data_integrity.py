"""Credentials secured with an embedded W3C Data Integrity proof, cryptosuite ``eddsa-rdfc-2022``.

The second securing format (docs/credentials.md), the one 1EdTech OB 3.0 certification asks for. The
credential is the same AchievementCredential ``vc.build_credential`` makes; the proof (W3C vc-di-eddsa
§3.3) is computed as:

1. canonicalise the credential without ``proof`` with RDF Dataset Canonicalization (RDFC-1.0, the
   algorithm pyld calls URDNA2015) to N-Quads (``canonical_nquads``: pyld's bytes, from a plan cached per
   credential shape, ``shape_plans``);
2. canonicalise the proof options (``type``, ``cryptosuite``, ``created``, ``verificationMethod``,
   ``proofPurpose``, with the credential's ``@context``) the same way;
3. sign ``SHA-256(proof options) || SHA-256(credential)`` with Ed25519; ``proofValue`` is the 64-byte
   signature in multibase base58btc (``z…``).

``verificationMethod`` is the did:web key id the vc+jwt ``kid`` uses (``did:web:…#key-…``), so the DID
document, rotation and retirement work the same for both formats.

JSON-LD contexts are shipped in ``contexts/`` and served by ``document_loader``, which never fetches: a
context it does not ship is an error naming the URL (a context host could otherwise change what a
signature covers, or learn who verifies what). Plain module: no Airflow.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from credsync.credentials.shape_plans import PlanCache
from credsync.credentials.vc import build_credential, iso

if TYPE_CHECKING:
    from credsync.credentials.issuers import Issuer
    from credsync.credentials.vc import CredentialClaims
    from credsync.credentials.verify import Resolver, Verdict

FORMAT = "eddsa-rdfc-2022"
PROOF_TYPE = "DataIntegrityProof"
PROOF_PURPOSE = "assertionMethod"
CONTEXTS_DIR = Path(__file__).with_name("contexts")
# URL -> shipped file. Provenance and hashes: contexts/README.md.
SHIPPED_CONTEXTS = {
    "https://www.w3.org/ns/credentials/v2": "credentials-v2.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json": "ob-v3p0-context-3.0.3.json",
    "https://purl.imsglobal.org/spec/ob/v3p0/extensions.json": "ob-v3p0-extensions.json",
    "https://w3id.org/security/data-integrity/v2": "security-data-integrity-v2.json",
    "https://w3id.org/security/multikey/v1": "security-multikey-v1.json",
    "https://www.w3.org/ns/did/v1": "did-v1.json",
    "https://w3id.org/security/suites/jws-2020/v1": "security-jws-2020-v1.json",
}
# A DI credential is a few KB of JSON; anything much larger is not one of ours (and canonicalisation
# cost grows with it).
MAX_CREDENTIAL_BYTES = 512 * 1024
MAX_OBJECTS = 500
MAX_DEPTH = 32
_UNDEFINED_VOCAB = "urn:credsync:undefined-term:"
# An absolute IRI as N-Quads can carry it: a scheme, then no whitespace or characters IRIs exclude.
_NOT_IN_IRI = re.compile(r"[\s<>\"{}|\\^`]")
_ABSOLUTE_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s<>\"{}|\\^`]*")
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_CHUNK = 58**10
_BASE58_PAIRS = tuple(a + b for a in _BASE58 for b in _BASE58)  # 0..3363 as two digits


class DataIntegrityError(ValueError):
    """A Data Integrity credential could not be signed or read: the message says which part and why."""


class ContextFetchRefused(DataIntegrityError):
    """Canonicalisation asked for a JSON-LD context that is not shipped (nothing is fetched at run time)."""


@cache
def _context(url: str) -> dict[str, Any]:
    return json.loads((CONTEXTS_DIR / SHIPPED_CONTEXTS[url]).read_text(encoding="utf-8"))


def document_loader(url: str, _options: dict[str, Any] | None = None) -> dict[str, Any]:
    """pyld document loader over the shipped contexts; refuses (never fetches) any other URL."""
    if url not in SHIPPED_CONTEXTS:
        raise ContextFetchRefused(
            f"JSON-LD document {url} is not shipped with credsync (credentials/contexts/) and is never fetched "
            "at run time: a credential naming it cannot be canonicalised"
        )
    # tag "static": pyld caches a remote context's processed form across operations only when its loader
    # tags it so; without it every credential re-resolved (and re-hashed) every context it names. The
    # shipped files never change while the process runs, so reusing the processed form is exact.
    return {"contextUrl": None, "documentUrl": url, "document": _context(url), "tag": "static"}


def canonical_nquads(document: dict[str, Any]) -> str:
    """RDFC-1.0 canonical N-Quads of a JSON-LD document, contexts from ``document_loader``.

    A document of a shape seen before (every credential a rule issues) takes its shape's cached plan and
    pyoxigraph's RDFC-1.0 (``shape_plans``: the same bytes, ~50x faster); anything else, and everything
    the plan does not cover, takes ``pyld_canonical_nquads``, which also gives every refusal its reason.
    """
    planned = _PLANS.canonical_nquads(document)
    return planned if planned is not None else pyld_canonical_nquads(document)


def _expand_to_rdf(document: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """pyld's RDF dataset of ``document`` after the same refusals as ``pyld_canonical_nquads`` (raises)."""
    from pyld import jsonld

    expanded = _checked_expansion(document)
    return jsonld.to_rdf(expanded, {"documentLoader": document_loader})


def pyld_canonical_nquads(document: dict[str, Any]) -> str:
    """RDFC-1.0 (URDNA2015) canonical N-Quads of a JSON-LD document with pyld, contexts from ``document_loader``.

    Refuses a document with anything the RDF conversion would drop: a member (or type) that no context
    defines, or a key, type or id that is not an absolute IRI once expanded (a space in it is enough).
    JSON-LD drops such things silently, so they would travel with the credential unsigned; pyld has no
    "safe mode" (jsonld.js has, and the @digitalbazaar verifiers use it). The document is expanded with
    a sentinel ``@vocab`` appended to its contexts (an undefined term becomes a sentinel IRI instead of
    vanishing), the expanded form is checked, and when it is clean it is, quad for quad, the plain
    expansion, so it is what gets canonicalised. (A member whose value is null or an empty list adds
    nothing either way: there is nothing in it to read.)
    """
    from pyld import jsonld

    expanded = _checked_expansion(document)
    try:
        # Expanded input has no contexts left to process: this pass is the cheap half.
        return jsonld.normalize(expanded, {"algorithm": "URDNA2015", "format": "application/n-quads",
                                           "documentLoader": document_loader})
    except jsonld.JsonLdError as exc:
        raise _jsonld_refusal(exc) from None


def _checked_expansion(document: dict[str, Any]) -> Any:
    """The expanded form of ``document`` (sentinel @vocab appended), refused when it would drop anything."""
    from pyld import jsonld

    context = document.get("@context")
    probe = {**document, "@context": [*(context if isinstance(context, list) else [context]),
                                      {"@vocab": _UNDEFINED_VOCAB}]}
    # Keys no IRI can carry (empty, a space, '<'…) are dropped by expansion itself, before any check on the
    # expanded form could see them: refused from the JSON.
    bad_keys = _unusable_keys(document)
    if bad_keys:
        raise DataIntegrityError(f"credential has member name(s) {', '.join(map(repr, bad_keys[:5]))}, which "
                                 "JSON-LD drops (they would not be covered by the proof)")
    try:
        expanded = jsonld.expand(probe, {"documentLoader": document_loader})
    except jsonld.JsonLdError as exc:
        raise _jsonld_refusal(exc) from None
    except DataIntegrityError:
        raise
    except ValueError as exc:  # pyld's IRI resolver on some malformed @context values
        raise DataIntegrityError(f"credential cannot be canonicalised as JSON-LD ({exc})") from None
    dropped = _not_signable(expanded)
    if dropped:
        undefined = [d.removeprefix(_UNDEFINED_VOCAB) for d in dropped if d.startswith(_UNDEFINED_VOCAB)]
        if undefined:
            raise DataIntegrityError(
                f"credential uses {', '.join(map(repr, undefined[:5]))}, which no context it names defines "
                "(an undefined term would not be covered by the proof)")
        raise DataIntegrityError(f"credential has {', '.join(map(repr, dropped[:5]))}, which is not an "
                                 "absolute IRI once expanded (it would not be covered by the proof)")
    return expanded


def _jsonld_refusal(exc: BaseException) -> DataIntegrityError:
    refused = _find_cause(exc, ContextFetchRefused)
    if isinstance(refused, DataIntegrityError):
        return refused
    return DataIntegrityError(f"credential cannot be canonicalised as JSON-LD ({_jsonld_reason(exc)})")


def _unusable_keys(document: Any) -> list[str]:
    found, stack = [], [document]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if key == "@context":
                    continue
                if not key or _NOT_IN_IRI.search(key):
                    found.append(key)
                stack.append(item)
    return found


def _not_signable(expanded: Any) -> list[str]:
    """Keys, types and ids of an expanded document that RDF would drop (or the sentinel marks undefined)."""
    found: list[str] = []

    def iri(value: Any) -> None:
        if not isinstance(value, str) or value.startswith(_UNDEFINED_VOCAB) or not (
                value.startswith("_:") or _ABSOLUTE_IRI.fullmatch(value)):
            found.append(str(value))

    stack = [expanded]
    while stack:
        value = stack.pop()
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            is_value_object = "@value" in value
            for key, item in value.items():
                if key == "@id":
                    iri(item)
                elif key == "@type":
                    for entry in item if isinstance(item, list) else [item]:
                        if not (is_value_object and entry == "@json"):
                            iri(entry)
                elif key.startswith("@"):
                    if key != "@value":
                        stack.append(item)
                else:
                    iri(key)
                    stack.append(item)
    return found


def _find_cause(exc: BaseException | None, kind: type[BaseException]) -> BaseException | None:
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, kind):
            return exc
        details = getattr(exc, "details", None)
        nested = details.get("cause") if isinstance(details, dict) else None
        exc = nested if isinstance(nested, BaseException) else (exc.__cause__ or exc.__context__)
        seen += 1
    return None


def _jsonld_reason(exc: BaseException) -> str:
    parts = []
    while exc is not None and len(parts) < 4:
        code = getattr(exc, "code", None)
        message = str(getattr(exc, "message", "") or exc).splitlines()[0][:200]
        details = getattr(exc, "details", None)
        extra = ""
        if isinstance(details, dict):
            extra = ", ".join(f"{k}={details[k]!r}"[:120] for k in ("event", "term", "url") if k in details)
        parts.append(" ".join(p for p in (message, f"[{code}]" if code else "", extra) if p))
        exc = exc.__cause__
    return "; ".join(parts)


def base58btc(data: bytes) -> str:
    """Base58btc (the ``base58`` package's encoding, byte for byte), ten digits per big-integer division and
    two per table lookup: 5x faster for a signature than digit by digit (it is on every issuance)."""
    number = int.from_bytes(data, "big")
    pairs = _BASE58_PAIRS
    parts: list[str] = []
    while number:
        number, chunk = divmod(number, _BASE58_CHUNK)
        chunk, a = divmod(chunk, 3364)
        chunk, b = divmod(chunk, 3364)
        chunk, c = divmod(chunk, 3364)
        e, d = divmod(chunk, 3364)
        parts += (pairs[a], pairs[b], pairs[c], pairs[d], pairs[e])
    digits = "".join(reversed(parts)).lstrip("1")  # the last chunk's leading zero digits
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + digits


def base58btc_decode(text: str) -> bytes:
    import base58

    return base58.b58decode(text.encode("ascii"), alphabet=_BASE58.encode())


def proof_options(context: Any, verification_method: str, created: str) -> dict[str, Any]:
    return {"@context": context, "type": PROOF_TYPE, "cryptosuite": FORMAT, "created": created,
            "verificationMethod": verification_method, "proofPurpose": PROOF_PURPOSE}


_OPTION_KEYS = {"@context", "type", "cryptosuite", "created", "verificationMethod", "proofPurpose"}


class ProofConfigCache:
    """SHA-256 of canonical proof options, per (context, method, created).

    Every credential a run signs shares its proof options (same key, same ``created``), so their
    canonical form is computed once per run rather than once per credential: the same bytes, half
    the canonicalisation work. The credential itself is canonicalised every time.
    """

    def __init__(self) -> None:
        self._hashes: dict[Any, bytes] = {}

    def digest(self, options: dict[str, Any]) -> bytes:
        context = options.get("@context")
        if options.keys() == _OPTION_KEYS and type(context) is list and all(type(c) is str for c in context):
            # what proof_options makes (every issuance): a tuple key, cheaper than JSON text
            key: Any = (*context, None, options["created"], options["verificationMethod"], options["type"],
                        options["cryptosuite"], options["proofPurpose"])
        else:
            key = json.dumps(options, sort_keys=True, separators=(",", ":"))
        found = self._hashes.get(key)
        if found is None:
            if len(self._hashes) > 64:
                self._hashes.clear()
            found = self._hashes[key] = hashlib.sha256(canonical_nquads(options).encode("utf-8")).digest()
        return found


def hash_data(credential: dict[str, Any], options: dict[str, Any],
              cache: ProofConfigCache | None = None) -> bytes:
    """vc-di-eddsa §3.3.4: SHA-256(canonical proof options) || SHA-256(canonical credential)."""
    unsecured = {k: v for k, v in credential.items() if k != "proof"} if "proof" in credential else credential
    return _config_hash(options, cache) + hashlib.sha256(canonical_nquads(unsecured).encode("utf-8")).digest()


def _config_hash(options: dict[str, Any], cache: ProofConfigCache | None) -> bytes:
    return (cache.digest(options) if cache is not None
            else hashlib.sha256(canonical_nquads(options).encode("utf-8")).digest())


def _proof(credential: dict[str, Any], issuer: Issuer, created: datetime | None,
           cache: ProofConfigCache | None) -> tuple[dict[str, Any], str | None]:
    """The ``eddsa-rdfc-2022`` proof of ``credential`` (which has none) by ``issuer``'s current key, and the
    credential's ``serialize`` text when its shape's plan rendered it in the same walk (else None)."""
    if "proof" in credential:
        raise DataIntegrityError("credential already carries a proof")
    options = proof_options(credential["@context"], issuer.key_method_id, iso(created or datetime.now(UTC)))
    planned = _PLANS.canonical_and_json(credential)
    nquads, text = planned if planned is not None else (pyld_canonical_nquads(credential), None)
    # = hash_data(credential, options, cache), the canonical text computed once for the hash and the JSON
    data = _config_hash(options, cache) + hashlib.sha256(nquads.encode("utf-8")).digest()
    return {"type": PROOF_TYPE, "cryptosuite": FORMAT, "created": options["created"],
            "verificationMethod": options["verificationMethod"], "proofPurpose": PROOF_PURPOSE,
            "proofValue": "z" + base58btc(issuer.key.ed25519_private_key.sign(data))}, text


def sign_document(credential: dict[str, Any], issuer: Issuer, *, created: datetime | None = None,
                  cache: ProofConfigCache | None = None) -> dict[str, Any]:
    """``credential`` with an embedded ``eddsa-rdfc-2022`` proof by ``issuer``'s current key."""
    proof, _text = _proof(credential, issuer, created, cache)
    # An array: the 1EdTech OB 3.0 schema types ``proof`` as one (Data Integrity allows a set of proofs).
    return {**credential, "proof": [proof]}


def sign_credential(claims: CredentialClaims, issuer: Issuer, *, signed_at: datetime | None = None,
                    cache: ProofConfigCache | None = None) -> str:
    """The credential for ``claims`` with a Data Integrity proof, as the JSON text credsync stores and sends."""
    credential = build_credential(claims, issuer.did)
    proof, text = _proof(credential, issuer, signed_at, cache)
    if text is None or not credential:
        return serialize({**credential, "proof": [proof]})
    # serialize(sign_document(...)): the credential's text with "proof" added as its last member, the JSON
    # encoder's own output for the secured dict, without encoding the credential a second time.
    return f'{text[:-1]},"proof":{_ENCODER.encode([proof])}}}'


# json.dumps with these options builds a new encoder on every call; one encoder gives the same text.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def serialize(credential: dict[str, Any]) -> str:
    return _ENCODER.encode(credential)


# After the functions it calls; plans are per process (a few KB each, bounded). Its JSON templates render
# ``serialize``'s text (each checked against it when the plan is made).
_PLANS = PlanCache(_expand_to_rdf, _UNDEFINED_VOCAB, serialize)


def parse(text: str) -> dict[str, Any]:
    """A DI credential from its JSON text; DataIntegrityError when it is not one."""
    if len(text.encode("utf-8")) > MAX_CREDENTIAL_BYTES:
        raise DataIntegrityError(f"credential is larger than {MAX_CREDENTIAL_BYTES} bytes")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataIntegrityError(f"credential is not JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(value, dict):
        raise DataIntegrityError("credential is not a JSON object")
    return value


def is_data_integrity(text: str) -> bool:
    """Whether stored/sent credential text is a DI JSON document (a vc+jwt is a compact JWS)."""
    return text.lstrip()[:1] in ("{", "[")


def proof_of(credential: dict[str, Any]) -> dict[str, Any]:
    """The one ``eddsa-rdfc-2022`` proof of ``credential``, checked for shape; DataIntegrityError otherwise."""
    proof = credential.get("proof")
    if isinstance(proof, list):
        if len(proof) != 1:
            raise DataIntegrityError(f"credential carries {len(proof)} proofs; expected exactly one")
        proof = proof[0]
    if not isinstance(proof, dict):
        raise DataIntegrityError("credential has no embedded proof")
    if proof.get("type") != PROOF_TYPE or proof.get("cryptosuite") != FORMAT:
        raise DataIntegrityError(f"proof is {proof.get('type')!r}/{proof.get('cryptosuite')!r}, "
                                 f"not {PROOF_TYPE}/{FORMAT}")
    if proof.get("proofPurpose") != PROOF_PURPOSE:
        raise DataIntegrityError(f"proofPurpose {proof.get('proofPurpose')!r} is not {PROOF_PURPOSE}")
    for member in ("verificationMethod", "created", "proofValue"):
        if not isinstance(proof.get(member), str):
            raise DataIntegrityError(f"proof has no {member}")
    if "@context" in proof:
        raise DataIntegrityError("proof carries its own @context (an embedded proof takes the credential's)")
    value = proof["proofValue"]
    # A 64-byte signature is 86-88 base58 characters; the cap also keeps base58 decoding (quadratic) cheap.
    if not value.startswith("z") or len(value) > 100 or any(c not in _BASE58 for c in value[1:]):
        raise DataIntegrityError("proofValue is not a multibase base58btc (prefix 'z') Ed25519 signature")
    return proof


def check_structure(document: Any) -> None:
    """Refuse documents whose shape could make canonicalisation expensive before any JSON-LD runs.

    RDFC-1.0's cost grows fast with blank nodes that look alike (a hostile credential can be built to
    make it explode); credsync's credentials have about a dozen objects, so anything far past that is
    refused rather than canonicalised.
    """
    objects, stack = 0, [(document, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise DataIntegrityError(f"credential nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            objects += 1
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
        if objects > MAX_OBJECTS:
            raise DataIntegrityError(f"credential has more than {MAX_OBJECTS} JSON objects")


def verify_proof(credential: dict[str, Any], public_key_raw: bytes) -> None:
    """Check the proof of ``credential`` with a raw 32-byte Ed25519 public key; DataIntegrityError if it fails."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    proof = proof_of(credential)
    check_structure(credential)
    signature = base58btc_decode(proof["proofValue"][1:])
    if len(signature) != 64:
        raise DataIntegrityError(f"proofValue decodes to {len(signature)} bytes, not a 64-byte Ed25519 signature")
    options = {"@context": credential.get("@context"),
               **{k: v for k, v in proof.items() if k != "proofValue"}}
    data = hash_data(credential, options)
    try:
        Ed25519PublicKey.from_public_bytes(public_key_raw).verify(signature, data)
    except InvalidSignature:
        raise DataIntegrityError(f"proof does not verify with {proof['verificationMethod']}") from None


def _moment(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def check_proof(credential: str | dict[str, Any], trusted: frozenset[str], resolver: Resolver,
                verdict: Verdict) -> dict[str, Any] | None:
    """Issuer trust, DID key and Data Integrity proof (credsync.credentials.verify's first step for this
    format); the credential when they all pass, else None with the reason added to ``verdict``.

    The same checks, in the same order, as the vc+jwt path: the proof's ``verificationMethod`` plays the
    JWS ``kid`` and its ``created`` the JWT ``iat`` (a key retired before ``created`` signs nothing valid).
    """
    from credsync.credentials.did_web import DidDocumentError, raw_public_key

    try:
        document = parse(credential) if isinstance(credential, str) else credential
        issuer = document.get("issuer")
        issuer = issuer.get("id") if isinstance(issuer, dict) else issuer
        verdict.issuer = issuer if isinstance(issuer, str) else None
        verdict.credential_id = document.get("id") if isinstance(document.get("id"), str) else None
        if verdict.issuer is None:
            verdict.reasons.append("credential names no issuer")
            return None
        proof = proof_of(document)
    except DataIntegrityError as exc:
        verdict.reasons.append(str(exc))
        return None
    method = proof["verificationMethod"]
    if not method.startswith(f"{verdict.issuer}#"):
        verdict.reasons.append(f"verificationMethod {method!r} is not a key of issuer {verdict.issuer}")
        return None
    verdict.key_id = method
    if verdict.issuer not in trusted:
        verdict.reasons.append(f"issuer {verdict.issuer} is not on the trust list")
        return None
    try:
        key = resolver.did_keys(verdict.issuer).get(method)
    except DidDocumentError as exc:
        verdict.reasons.append(f"issuer cannot be resolved: {exc}")
        return None
    if key is None:
        verdict.reasons.append(f"key {method} is not listed for assertion in the issuer's DID document")
        return None
    try:
        verify_proof(document, raw_public_key(key))
    except DataIntegrityError as exc:
        verdict.reasons.append(str(exc))
        return None
    if key.expires is not None:
        created = _moment(proof["created"])
        if created is None or created >= key.expires:
            verdict.reasons.append(f"signed with key {method} after its retirement on {key.expires.isoformat()}")
            return None
    return document
