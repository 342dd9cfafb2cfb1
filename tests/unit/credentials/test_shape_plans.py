"""Differential test: canonical N-Quads from cached shape plans (+ RDFC-1.0 from the plan, or pyoxigraph) are
byte for byte what pyld gives, over many varied credentials; what a plan does not cover goes to pyld.

``data_integrity.canonical_nquads`` signs and verifies every Data Integrity credential, so a difference here
would be a proof third-party verifiers reject (tests/integration/credentials/test_di_verifiers.py checks
those on real credentials).
"""

from __future__ import annotations

import copy
import itertools
import json
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from credsync.credentials import data_integrity as di
from credsync.credentials import shape_plans, status, vc
from credsync.credentials.issuers import Issuer
from credsync.credentials.keys import generate_signing_key, parse_signing_key
from credsync.credentials.rules import load_rules
from credsync.credentials.vc import CredentialClaims, Evidence, build_credential

BASE = "http://localhost:8089"
ODD_STRINGS = [
    "", " ", "plain", "CPR & AED", "Zürich \u2013 Ærø \u2013 東京 \u2013 😀",
    'quote " and \\ backslash', "tab\tnew\nline\rcr",
    "{0} {} {{ }} %s %% %(x)s", "urn:x-credsync-slot:0", "_:b0", "<http://example.org/x>", " .\n_:z <p> \"o\" .",
    "\u202eright-to-left\u200b", "\ufeffbom", "bell\x07 nul\x00 del\x7f", "x" * 3000,
    "https://example.org/looks-like-an-iri", "urn:credsync:undefined-term:grade",
]
ODD_IRIS = [
    "did:example:123", "did:web:example.org:people:ü", "https://example.org/a?b=c&d=%20#frag", "urn:uuid:x",
    "ext:thing", "not an iri", "relative/path", "_:b7", "mailto:someone@example.org", "did:key:z6Mk" + "a" * 40,
    "urn:credsync:undefined-term:x", "id", "name:x", "https://example.org/{braces}",
]


@pytest.fixture(scope="module")
def issuer() -> Issuer:
    return Issuer.for_tenant("acme", parse_signing_key(generate_signing_key()), base_url=BASE)


def claims_for(rule, n: int, **overrides: object) -> CredentialClaims:
    values: dict[str, object] = {
        "credential_id": f"3f1c2a9e-1111-4222-8333-{n:012d}", "tenant_id": "acme", "employee_id": f"E{n:05d}",
        "credential_type": rule.credential_type, "achievement_name": rule.achievement_name,
        "issuer_name": rule.issuer, "rule_id": rule.rule_id, "rule_version": rule.rule_version,
        "issue_date": date(2025, 3, 1), "expiry_date": date(2027, 3, 1),
        "evidence": Evidence([f"6f1e7c9a-0000-4000-8000-{n:012d}"], 88.0, datetime(2025, 3, 1, 9, tzinfo=UTC),
                             list(rule.course_codes)),
        "status": status.status_entry(f"{BASE}/issuers/acme", "revocation", 1, n),
    }
    values.update(overrides)
    return CredentialClaims(**values)  # type: ignore[arg-type]


def variants(rule, n: int) -> list[dict[str, object]]:
    """The optional parts of a credential, alone and together."""
    evidence = Evidence([f"s-{n}", f"s-{n + 1}"], None, datetime(2025, 3, 1, tzinfo=UTC), ["A-1", "B-2"],
                        evidence_url=f"https://lms.example.org/evidence/{n}")
    return [
        {},
        {"expiry_date": None},
        {"status": None},
        {"status": status.status_entry(f"{BASE}/issuers/acme", "suspension", 2, n)},
        {"image_url": f"https://img.example.org/badges/{rule.credential_type}.png"},
        {"subject_did": f"did:example:learner-{n}"},
        {"evidence": evidence},
        {"achievement_type": "License", "award_id": f"aaaaaaaa-0000-4000-8000-{n:012d}",
         "awarded_date": date(2024, 1, 1)},
        {"expiry_date": None, "status": None, "image_url": "https://img.example.org/x.png",
         "subject_did": "did:web:example.org", "evidence": evidence},
    ]


def same_as_pyld(document: dict) -> bool:
    """Assert plan path == pyld (output, or the refusal and its message); True when the plan path was used."""
    try:
        expected: str | BaseException = di.pyld_canonical_nquads(copy.deepcopy(document))
    except di.DataIntegrityError as exc:
        expected = exc
    planned = di._PLANS.canonical_nquads(copy.deepcopy(document))
    try:
        actual: str | BaseException = di.canonical_nquads(copy.deepcopy(document))
    except di.DataIntegrityError as exc:
        actual = exc
    if isinstance(expected, BaseException):
        assert planned is None, "the plan path produced quads for a document pyld refuses"
        assert isinstance(actual, BaseException) and type(actual) is type(expected)
        assert str(actual) == str(expected)
        return False
    assert actual == expected
    if planned is not None:
        assert planned == expected
    return planned is not None


def test_every_demo_rule_and_optional_part_gives_pyld_bytes(issuer) -> None:
    planned = total = 0
    for n, (rule, extra) in enumerate((r, v) for r in load_rules() for v in variants(r, 7)):
        document = build_credential(claims_for(rule, n, **extra), issuer.did)
        planned += same_as_pyld(document)
        total += 1
    assert total >= 7 * 9
    assert planned == total, "every credential credsync issues should take the plan path"


def test_odd_strings_in_every_literal_give_pyld_bytes(issuer) -> None:
    rule = load_rules()[0]
    planned = 0
    for n, text in enumerate(ODD_STRINGS):
        document = build_credential(claims_for(rule, n, achievement_name=text, issuer_name=text[::-1],
                                                rule_id=text), issuer.did)
        document["credentialSubject"]["identifier"][0]["salt"] = text
        planned += same_as_pyld(document)
    # control characters (pyld writes them raw, RDFC-1.0 escapes them) and the IRI-looking ones that are
    # literals are fine; only the control characters take pyld's path
    assert planned == len(ODD_STRINGS) - 1


def test_odd_iris_in_every_iri_position_give_pyld_bytes_or_its_refusal(issuer) -> None:
    rule = load_rules()[0]
    outcomes = set()
    for n, (iri, where) in enumerate(itertools.product(ODD_IRIS, ("subject", "issuer", "image", "evidence", "id"))):
        document = build_credential(claims_for(rule, n, subject_did="did:example:s", image_url="https://i.example/x",
                                               evidence=Evidence(["s"], 1.0, datetime(2025, 3, 1, tzinfo=UTC), ["C"],
                                                                 evidence_url="https://e.example/1")), issuer.did)
        target = {"subject": document["credentialSubject"], "issuer": document["issuer"],
                  "image": document["credentialSubject"]["achievement"]["image"],
                  "evidence": document["evidence"][0], "id": document}[where]
        target["id"] = iri
        outcomes.add(same_as_pyld(document))
    assert outcomes == {True, False}  # both paths ran


def test_equal_blank_nodes_and_merged_quads_give_pyld_bytes(issuer) -> None:
    """Two identical evidence entries have equal first-degree hashes (RDFC-1.0's n-degree step: pyoxigraph);
    equal values in a set merge two quads into one; equal ids merge two nodes."""
    rule = load_rules()[0]
    twins = build_credential(claims_for(rule, 1), issuer.did)
    twins["evidence"] = [twins["evidence"][0], dict(twins["evidence"][0])]
    assert same_as_pyld(twins)
    merged = build_credential(claims_for(rule, 2), issuer.did)
    merged["credentialSubject"]["achievement"]["name"] = ["Same", "Same"]
    assert same_as_pyld(merged)
    same_id = build_credential(claims_for(rule, 3, subject_did="did:example:x"), issuer.did)
    same_id["issuer"]["id"] = "did:example:x"
    same_id["issuer"]["name"] = same_id["name"]
    assert same_as_pyld(same_id)
    for document in (twins, merged, same_id):
        nquads = di.canonical_nquads(document)
        assert len(set(nquads.splitlines())) == len(nquads.splitlines())


def test_blank_node_lines_whose_order_depends_on_values_are_sorted_per_credential(issuer) -> None:
    """A plan presorts a blank node's hashing lines only when no value can reorder them; two names of one
    evidence entry (same predicate, different values) can, in either order."""
    rule = load_rules()[0]
    for n, names in enumerate((["zz", "aa"], ["aa", "zz"], ["a", "a b"])):
        document = build_credential(claims_for(rule, 40 + n), issuer.did)
        document["evidence"][0]["name"] = names
        assert same_as_pyld(document)
        plan = di._PLANS._arguments(document)[0]
        assert False in plan.presorted and True in plan.presorted


def test_signed_text_is_the_json_of_the_signed_document(issuer, monkeypatch) -> None:
    """``sign_credential`` renders the credential's JSON from its plan (when no value needs escaping) and
    appends the proof: the same text as serialising ``sign_document``'s result, for every rule, optional part
    and odd string (those that need escaping take ``serialize``)."""
    monkeypatch.setattr(vc.secrets, "token_hex", lambda n: "5a" * n)  # the salt, so both builds are equal
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    rendered = 0
    cases = [(rule, n, extra) for n, (rule, extra) in enumerate((r, v) for r in load_rules() for v in variants(r, 9))]
    cases += [(load_rules()[0], 90 + n, {"achievement_name": text, "rule_id": text[::-1]})
              for n, text in enumerate(ODD_STRINGS)]
    for rule, n, extra in cases:
        claims = claims_for(rule, n, **extra)
        document = build_credential(claims, issuer.did)
        expected = di.serialize(di.sign_document(document, issuer, created=at))
        assert di.sign_credential(claims, issuer, signed_at=at) == expected
        assert json.loads(expected)["proof"][0]["proofValue"].startswith("z")
        planned = di._PLANS.canonical_and_json(document)
        if planned is not None and planned[1] is not None:
            assert planned[1] == di.serialize(document)
            rendered += 1
    assert rendered >= len(cases) - len(ODD_STRINGS)  # every plain credential took the rendered text


def test_undefined_terms_and_unknown_contexts_are_still_refused_with_pyld_reasons(issuer) -> None:
    rule = load_rules()[0]
    document = build_credential(claims_for(rule, 1), issuer.did)
    di.canonical_nquads(document)  # the shape has a plan now
    for change in (lambda d: d.update(grade="A"), lambda d: d["credentialSubject"].update(secret="x"),
                   lambda d: d["@context"].append("https://contexts.example.org/evil.json"),
                   lambda d: d.update(type=["VerifiableCredential", "UndefinedType"]),
                   lambda d: d.update({"a b": "c"})):
        changed = copy.deepcopy(document)
        change(changed)
        assert di._PLANS.canonical_nquads(changed) is None
        with pytest.raises(di.DataIntegrityError):
            di.canonical_nquads(changed)
        assert not same_as_pyld(changed)


def test_numbers_and_plan_cache_bounds(issuer) -> None:
    rule = load_rules()[0]
    document = build_credential(claims_for(rule, 1), issuer.did)
    document["credentialSubject"]["identifier"][0]["hashed"] = 1  # a number: its RDF form depends on it
    assert di._PLANS.canonical_nquads(document) is None
    cache = shape_plans.PlanCache(di._expand_to_rdf, di._UNDEFINED_VOCAB)
    for n in range(shape_plans._MAX_PLANS + 5):
        shaped = build_credential(claims_for(rule, n), issuer.did)
        shaped["evidence"] = [dict(shaped["evidence"][0], name=str(i)) for i in range(1 + n % 3)]
        shaped[f"x{n}"] = None  # a distinct shape each (a null member adds nothing)
        cache.canonical_nquads(shaped)
        assert len(cache._plans) <= shape_plans._MAX_PLANS


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.sampled_from(ODD_IRIS + ODD_STRINGS[:12]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["id", "type", "name", "description", "narrative", "image", "achievement", "@value",
                         "@type", "@id", "@language", "criteria", "x"]) | st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from([(), ("credentialSubject",), ("credentialSubject", "achievement"), ("issuer",),
                             ("credentialStatus",), ("evidence", 0), ("credentialSubject", "identifier", 0)]),
       key=st.sampled_from(["id", "type", "name", "description", "image", "achievement", "identityHash", "narrative",
                            "validFrom", "statusListIndex", "evidence", "@context", "achievementType"])
       | st.text(max_size=10),
       value=_json_values)
def test_any_member_set_to_any_value_gives_pyld_bytes_or_its_refusal(issuer, path, key, value) -> None:
    document = build_credential(claims_for(load_rules()[1], 5), issuer.did)
    target = document
    for step in path:
        target = target[step]
    target[key] = value
    try:
        json.dumps(document)
    except ValueError:
        return
    same_as_pyld(document)
