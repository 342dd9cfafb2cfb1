"""RDFC-1.0 canonical N-Quads of a credential from a plan cached per credential *shape*, canonicalised natively.

Why: JSON-LD expansion and RDF conversion in pure Python (pyld) cost ~2-6 ms per credential, 100 times an
Ed25519 signature (docs/benchmarks.md). What JSON-LD does to a document depends on its member names, its
``@context`` and ``type`` values (they pick the term definitions: type-scoped contexts) and its nesting,
not on the other values: those land verbatim in a literal, or as an IRI that expands to itself. So pyld
runs once per shape, over a template whose every string value is a unique placeholder IRI; its RDF
dataset, with each placeholder located, is the shape's plan. A credential of a known shape gets its quads
by putting its values back where the placeholders were, and pyoxigraph (Rust) labels the blank nodes with
RDFC-1.0; the result is byte for byte what ``data_integrity.pyld_canonical_nquads`` gives (the differential
test tests/unit/credentials/test_shape_plans.py compares them over many varied credentials).

The plan is used only where that holds; anything else returns None and the caller runs pyld:
- a shape with numbers (their RDF form depends on the value), or where a placeholder does not come out
  whole as exactly one IRI or literal (``@json`` literals, ``@language``/``@index`` values…), or which
  pyld refuses (an undefined term: refused by the pyld path with its reason);
- a value in an IRI position that would not expand to itself: not an absolute IRI, a blank node id, a
  compact IRI whose prefix a context defines, a term name, the undefined-term sentinel;
- a literal with a control character other than tab, CR, LF (pyld 3.3 writes them raw, pyoxigraph as
  ``\\uXXXX`` escapes: the canonical forms differ, so the pyld form is kept for them).
Plain module: no Airflow.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from hashlib import sha256
from itertools import pairwise
from operator import itemgetter
from typing import Any

_SLOT = "urn:x-credsync-slot:"
_XSD_STRING = "http://www.w3.org/2001/XMLSchema#string"
_RDF_LANGSTRING = "http://www.w3.org/1999/02/22-rdf-syntax-ns#langString"
# Members whose values JSON-LD reads as keywords choosing term definitions: part of the shape, verbatim.
_VERBATIM = frozenset({"@context", "type", "@type"})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SPECIAL = re.compile(r'[\x00-\x1f\x7f\\"]')  # a control character or one N-Quads escapes
# An absolute IRI as N-Quads carries it (as data_integrity._ABSOLUTE_IRI), not a blank node id; group 1 its
# scheme, group 2 the "//" after it (then no compact-IRI expansion applies).
_PLAIN_IRI = re.compile(r"(?!_:)([A-Za-z][A-Za-z0-9+.-]*):(//)?[^\s<>\"{}|\\^`]*")
_MAX_PLANS = 256
_MAX_KNOWN_IRIS = 1024  # IRIs seen to expand to themselves; per-credential ones fill it, then it stays put
# Shape key markers: objects, so no member name or value can be mistaken for one.
_STRING, _OPEN_OBJECT, _OPEN_LIST, _CLOSE, _NULL, _TRUE, _FALSE = (object() for _ in range(7))


class _Unplannable(Exception):
    pass


class _Template:
    """A ``str.format`` template with positional fields, rendered as one ``str.join`` of its constant pieces
    interleaved (by slice assignment) with an itemgetter's values: the same text, 3x faster than ``%`` and
    more than ``str.format``, which both scan the whole template again on every call."""

    __slots__ = ("_get", "_parts")

    def __init__(self, template: str) -> None:
        fields = [int(n) for n in re.findall(r"(?<!\{)\{(\d+)\}", template.replace("{{", ""))]
        constants = re.split(r"\{\d+\}", template.replace("{{", "\0").replace("}}", "\1"))
        # constant, value, constant, ... constant: the values' places are filled on each render
        self._parts: list[str | None] = [None] * (2 * len(constants) - 1)
        self._parts[::2] = [c.replace("\0", "{").replace("\1", "}") for c in constants]
        get = itemgetter(*fields) if fields else (lambda _arguments: ())
        self._get = get if len(fields) != 1 else (lambda arguments: (get(arguments),))

    def render(self, arguments: list[str]) -> str:
        parts = self._parts[:]  # a copy: a plan is shared by every thread that signs
        parts[1::2] = self._get(arguments)
        return "".join(parts)  # type: ignore[arg-type]


class Plan:
    """The quads of one shape, as format strings with a field per value (and per blank node label).

    ``final``: every quad, blank nodes as fields; ``hashing``: per blank node, its quads with it as ``_:a``
    and other blank nodes as ``_:z`` (RDFC-1.0 first-degree hashing), one block per blank node (each line
    ending in a newline) separated by ``\x1e`` (values with control characters never reach a plan), its lines
    already in code point order where ``presorted`` says the values cannot change that order;
    ``collisions``: per group of quads that only their values tell apart, the value indexes of each (equal
    values would make one quad of two).
    ``json`` (or None): the document's JSON text (``serialize``), each string value a field.
    """

    __slots__ = ("bnodes", "collisions", "final", "hashing", "iri_slots", "json", "lit_slots", "presorted")

    def __init__(self, final: _Template, hashing: _Template, bnodes: tuple[str, ...],
                 iri_slots: tuple[int, ...], lit_slots: tuple[int, ...],
                 collisions: tuple[tuple[tuple[int, ...], ...], ...], *, presorted: tuple[bool, ...] = (),
                 json: _Template | None = None) -> None:
        self.final = final
        self.hashing = hashing
        self.bnodes = bnodes
        self.iri_slots = iri_slots
        self.lit_slots = lit_slots
        self.collisions = collisions
        self.presorted = presorted or (False,) * len(bnodes)  # unsorted: sorted on every use
        self.json = json


def _freeze(value: Any) -> Any:
    if type(value) is str:
        return value
    if type(value) is list:
        frozen = ("[", *value)
        try:  # a list of strings (or numbers: invalid there, so pyld refuses them and no plan is made)
            hash(frozen)
        except TypeError:
            pass
        else:
            return frozen
    import json

    return ("json", json.dumps(value, sort_keys=False))


def shape(document: Any, values: list[str]) -> tuple[Any, ...]:
    """The shape key of ``document`` (names, nesting, JSON types, @context/type values), appending its string
    values to ``values`` in walk order; _Unplannable for numbers.

    One flat tuple (markers are objects no JSON value equals, so it reads back one way only): cheap to
    build, hash and compare, which matters as it runs for every credential."""
    key: list[Any] = []
    mark, append = key.append, values.append

    def walk(node: Any) -> None:
        kind = type(node)
        if kind is str:
            append(node)
            mark(_STRING)
        elif kind is dict:
            mark(_OPEN_OBJECT)
            for name, value in node.items():
                if type(value) is str and name not in _VERBATIM:  # inline: most members are strings
                    append(value)
                    mark(name)  # a name followed by a name or _CLOSE: its value was a string
                elif name in _VERBATIM:
                    mark(name)
                    mark(_freeze(value))
                else:
                    mark(name)
                    walk(value)
            mark(_CLOSE)
        elif kind is list:
            mark(_OPEN_LIST)
            for item in node:
                walk(item)
            mark(_CLOSE)
        elif node is None:
            mark(_NULL)
        elif node is True:
            mark(_TRUE)
        elif node is False:
            mark(_FALSE)
        else:
            raise _Unplannable  # numbers (and anything that is not JSON)

    walk(document)
    return tuple(key)


def _template(document: Any, counter: list[int]) -> Any:
    """``document`` with each string value (outside @context/type) replaced by its placeholder, in walk order."""
    if isinstance(document, str):
        counter[0] += 1
        return f"{_SLOT}{counter[0] - 1}"
    if isinstance(document, dict):
        return {k: (v if k in _VERBATIM else _template(v, counter)) for k, v in document.items()}
    if isinstance(document, list):
        return [_template(v, counter) for v in document]
    return document


def _escape(value: str) -> str:
    # pyld 3.3's N-Quads literal escaping (pyld.nquads.escape), which its canonical form uses.
    return (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
            .replace('"', '\\"'))


def _slot_of(value: str) -> int | None:
    if value.startswith(_SLOT):
        index = value[len(_SLOT):]
        if index.isdigit():
            return int(index)
        raise _Unplannable
    if _SLOT in value:
        raise _Unplannable  # a placeholder that did not come out whole
    return None


def _fixed_order(prefixes: list[str]) -> bool:
    """Whether lines beginning with these constant texts (each line's text before its first value) sort the
    same whatever the values are: true when every two of them differ within the shorter one."""
    ordered = sorted(prefixes)
    return all(not later.startswith(earlier) for earlier, later in pairwise(ordered))


def _json_template(template: Any, document: dict[str, Any], slots: int,
                   serialize: Callable[[Any], str]) -> _Template | None:
    """``serialize(template)`` with each placeholder string a field, when that renders ``document``'s own text."""
    text = serialize(template).replace("{", "{{").replace("}", "}}")
    found = re.findall(f'"{re.escape(_SLOT)}(\\d+)"', text)
    if sorted(int(n) for n in found) != list(range(slots)):
        return None  # a member name that looks like a placeholder: not worth a plan
    json = _Template(re.sub(f'"{re.escape(_SLOT)}(\\d+)"', r'"{\1}"', text))
    values: list[str] = []
    shape(document, values)
    if _SPECIAL.search("".join(values)) or json.render(values) != serialize(document):
        return None  # checked here on values with nothing to escape; that is when it is used
    return json


def build_plan(document: dict[str, Any], slots: int,
               expand_to_rdf: Callable[[dict[str, Any]], dict[str, list[dict[str, Any]]]],
               serialize: Callable[[Any], str] | None = None) -> Plan | None:
    """The plan for ``document``'s shape, from pyld's RDF dataset of its template; None when the shape is
    not plannable (including when pyld refuses the template: the caller's pyld path gives the reason)."""
    counter = [0]
    template = _template(document, counter)
    if counter[0] != slots:
        return None
    try:
        dataset = expand_to_rdf(template)
    except Exception:  # any refusal: the real document takes the pyld path, which says why
        return None
    lit_field: dict[int, int] = {}
    iri_slots: set[int] = set()
    # A token: ("c", N-Quads text) constant, ("b", label) blank node, ("i", slot) IRI value,
    # ("l", slot, suffix) literal value.

    def node(term: dict[str, Any]) -> tuple[Any, ...]:
        value = term["value"]
        if term["type"] == "blank node":
            if _SLOT in value:
                raise _Unplannable
            return ("b", value)
        slot = _slot_of(value)
        if slot is None:
            return ("c", f"<{value}>")
        iri_slots.add(slot)
        return ("i", slot)

    def literal(term: dict[str, Any]) -> tuple[Any, ...]:
        value, datatype = term["value"], term.get("datatype") or _XSD_STRING
        if _SLOT in datatype:
            raise _Unplannable
        if datatype == _RDF_LANGSTRING:
            language = term.get("language") or ""
            if _SLOT in language:
                raise _Unplannable
            suffix = f"@{language}" if language else ""
        else:
            suffix = "" if datatype == _XSD_STRING else f"^^<{datatype}>"
        slot = _slot_of(value)
        if slot is None:
            if _CONTROL.search(value):
                raise _Unplannable
            return ("c", f'"{_escape(value)}"{suffix}')
        lit_field.setdefault(slot, slots + len(lit_field))
        return ("l", slot, suffix)

    quads: list[tuple[tuple[Any, ...], ...]] = []
    try:
        for graph, triples in dataset.items():
            graph_token = None if graph == "@default" else node(
                {"type": "blank node" if graph.startswith("_:") else "IRI", "value": graph})
            for triple in triples:
                obj = triple["object"]
                tokens = (node(triple["subject"]), node(triple["predicate"]),
                          node(obj) if obj["type"] in ("IRI", "blank node") else literal(obj))
                quads.append(tokens if graph_token is None else (*tokens, graph_token))
    except _Unplannable:
        return None
    # Every value must land somewhere as itself: one that vanished or changed shape is not planned.
    if iri_slots | set(lit_field) != set(range(slots)):
        return None
    bnodes = sorted({t[1] for quad in quads for t in quad if t[0] == "b"})
    bnode_field = {label: slots + len(lit_field) + n for n, label in enumerate(bnodes)}

    def text(quad: tuple[tuple[Any, ...], ...], bnode: Callable[[str], str]) -> str:
        parts = []
        for token in quad:
            kind = token[0]
            if kind == "c":
                parts.append(token[1].replace("{", "{{").replace("}", "}}"))
            elif kind == "b":
                parts.append(bnode(token[1]))
            elif kind == "i":
                parts.append("<{" + str(token[1]) + "}>")
            else:
                parts.append('"{' + str(lit_field[token[1]]) + '}"' + token[2].replace("{", "{{").replace("}", "}}"))
        return " ".join(parts) + " ."

    def prefix(quad: tuple[tuple[Any, ...], ...], bnode: Callable[[str], str]) -> str:
        # the quad's text before its first value: all that can place its line, whatever the values are
        parts = []
        for token in quad:
            if token[0] in ("i", "l"):
                return " ".join([*parts, "<" if token[0] == "i" else '"'])
            parts.append(token[1] if token[0] == "c" else bnode(token[1]))
        return " ".join(parts) + " ."

    final_label = lambda label: "{" + str(bnode_field[label]) + "}"  # noqa: E731
    final = "".join(text(q, final_label) + "\n" for q in quads)
    hashing_blocks, presorted = [], []
    for b in bnodes:
        label = lambda name, b=b: "_:a" if name == b else "_:z"  # noqa: E731
        mentions = [q for q in quads if any(t == ("b", b) for t in q)]
        fixed = _fixed_order([prefix(q, label) for q in mentions])
        if fixed:  # sorted here once: the values cannot move a line (sorted as text, so rendered text sorts)
            mentions.sort(key=lambda q, label=label: prefix(q, label))
        hashing_blocks.append("".join(text(q, label) + "\n" for q in mentions))
        presorted.append(fixed)
    json_text = _json_template(template, document, slots, serialize) if serialize is not None else None
    groups: dict[tuple[Any, ...], list[tuple[int, ...]]] = {}
    for quad in quads:
        skeleton = tuple(t if t[0] in ("c", "b") else (t[0], *t[2:]) for t in quad)
        groups.setdefault(skeleton, []).append(tuple(t[1] for t in quad if t[0] in ("i", "l")))
    collisions = tuple(tuple(members) for members in groups.values() if len(members) > 1)
    return Plan(_Template(final), _Template("\x1e".join(hashing_blocks)), tuple(bnodes),
                tuple(sorted(iri_slots)), tuple(sorted(lit_field, key=lit_field.__getitem__)), collisions,
                presorted=tuple(presorted), json=json_text)


@cache
def _defined_terms() -> frozenset[str]:
    """Every term any shipped context defines (at any depth): a value's prefix among them could expand."""
    from credsync.credentials.data_integrity import SHIPPED_CONTEXTS, _context

    terms: set[str] = set()
    stack: list[Any] = [_context(url) for url in SHIPPED_CONTEXTS]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                terms.add(key)
                stack.append(item)
        elif isinstance(value, list):
            stack.extend(value)
    return frozenset(terms)


def _expands_to_itself(value: str, undefined_vocab: str, terms: frozenset[str]) -> bool:
    """Whether JSON-LD IRI expansion (as @id or @vocab) leaves ``value`` as it is, and RDF keeps it: an absolute
    IRI that is no term, whose scheme is no term either unless "//" follows it, and not the sentinel."""
    match = _PLAIN_IRI.fullmatch(value)
    return (match is not None and (match[2] is not None or match[1] not in terms) and value not in terms
            and not value.startswith(undefined_vocab))


class PlanCache:
    """Plans by shape key (None: the shape takes the pyld path), bounded.

    ``serialize`` (optional): the JSON encoding a plan's ``json`` template reproduces (``canonical_and_json``).
    """

    def __init__(self, expand_to_rdf: Callable[[dict[str, Any]], dict[str, list[dict[str, Any]]]],
                 undefined_vocab: str, serialize: Callable[[Any], str] | None = None) -> None:
        self._plans: dict[Any, Plan | None] = {}
        self._good_iris: set[str] = set()
        self._expand_to_rdf = expand_to_rdf
        self._undefined_vocab = undefined_vocab
        self._serialize = serialize

    def _arguments(self, document: dict[str, Any]) -> tuple[Plan, list[str], bool] | None:
        """The plan of ``document``'s shape, the format arguments of its values and whether any value has a
        character N-Quads or JSON escapes, or None: use pyld."""
        values: list[str] = []
        try:
            key = shape(document, values)
        except _Unplannable:
            return None
        plan = self._plans.get(key, False)
        if plan is False:
            plan = build_plan(document, len(values), self._expand_to_rdf, self._serialize)
            if len(self._plans) >= _MAX_PLANS:
                self._plans.clear()
            self._plans[key] = plan
        if plan is None:
            return None
        terms, vocab, iri, known = _defined_terms(), self._undefined_vocab, _PLAIN_IRI.fullmatch, self._good_iris
        for slot in plan.iri_slots:  # _expands_to_itself, inline: it runs for every IRI of every credential
            value = values[slot]
            if value in known:  # an issuer's DID, its status lists, the schema: the same in every credential
                continue
            match = iri(value)
            if (match is None or (match[2] is None and match[1] in terms) or value in terms
                    or value.startswith(vocab)):
                return None
            if len(known) < _MAX_KNOWN_IRIS:
                known.add(value)
        literals = [values[slot] for slot in plan.lit_slots]
        special = _SPECIAL.search("".join(values)) is not None  # one scan: most credentials have nothing to escape
        if special:
            if _CONTROL.search("".join(values)):
                return None
            literals = [_escape(value) for value in literals]
        values += literals
        return plan, values, special

    def nquads(self, document: dict[str, Any]) -> str | None:
        """The quads of ``document`` (blank nodes as pyld labelled them; not canonical), or None: use pyld."""
        found = self._arguments(document)
        if found is None:
            return None
        plan, arguments, _special = found
        return plan.final.render([*arguments, *plan.bnodes])

    def canonical_nquads(self, document: dict[str, Any]) -> str | None:
        """RDFC-1.0 canonical N-Quads of ``document`` through its shape's plan, or None: use pyld.

        RDFC-1.0 labels blank nodes in the order of their first-degree hashes (SHA-256 of the sorted quads
        that mention them, themselves as ``_:a``, others as ``_:z``); when every hash is distinct that is
        the whole algorithm, done here from the plan's templates. Equal hashes need its n-degree step, and
        equal values that merge two quads a set: both go to pyoxigraph's RDFC-1.0 with the same quads.
        """
        found = self._arguments(document)
        return None if found is None else self._canonical(*found[:2])

    def canonical_and_json(self, document: dict[str, Any]) -> tuple[str, str | None] | None:
        """``canonical_nquads(document)`` and, when its plan has a JSON template and no value needs escaping,
        ``serialize(document)`` from the same walk (None in its place otherwise), or None: use pyld."""
        found = self._arguments(document)
        if found is None:
            return None
        plan, arguments, special = found
        canonical = self._canonical(plan, arguments)
        if canonical is None:
            return None
        return canonical, None if special or plan.json is None else plan.json.render(arguments)

    def _canonical(self, plan: Plan, arguments: list[str]) -> str | None:
        if not self._distinct(plan, arguments):
            return self._oxigraph(plan.final.render([*arguments, *plan.bnodes]))
        hashes = []
        blocks = plan.hashing.render(arguments).split("\x1e")
        for n, (block, presorted) in enumerate(zip(blocks, plan.presorted, strict=True)):
            if not presorted:
                lines = block.split("\n")
                lines.pop()  # after the last newline
                lines.sort()
                block = "\n".join(lines) + "\n"
            hashes.append((sha256(block.encode("utf-8")).digest(), n))  # bytes sort as their hex does
        hashes.sort()
        labels = [""] * len(hashes)
        previous = None
        for issued, (digest, n) in enumerate(hashes):
            if digest == previous:
                return self._oxigraph(plan.final.render([*arguments, *plan.bnodes]))
            previous = digest
            labels[n] = f"_:c14n{issued}"
        lines = plan.final.render([*arguments, *labels]).split("\n")
        lines.pop()  # after the last newline
        lines.sort()  # canonical N-Quads in code point order
        return "\n".join(lines) + "\n" if lines else ""

    @staticmethod
    def _distinct(plan: Plan, arguments: list[str]) -> bool:
        for members in plan.collisions:
            seen = {tuple(arguments[i] for i in member) for member in members}
            if len(seen) != len(members):
                return False
        return True

    @staticmethod
    def _oxigraph(text: str) -> str | None:
        import pyoxigraph

        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: pyld's path decides what that means
            return None
        # lenient: the quads are ours, each IRI already checked absolute with no character N-Quads excludes.
        dataset = pyoxigraph.Dataset(pyoxigraph.parse(data, pyoxigraph.RdfFormat.N_QUADS, lenient=True))
        dataset.canonicalize(pyoxigraph.CanonicalizationAlgorithm.RDFC_1_0)
        lines = str(dataset).split("\n")
        lines.pop()
        lines.sort()
        return "\n".join(lines) + "\n" if lines else ""
