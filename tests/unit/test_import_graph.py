"""plugins/credsync has no import cycles between its parts, and plain modules never import the layers above.

Built from the source with ``ast`` (no import runs): every ``import credsync.x`` / ``from credsync.x
import y`` anywhere in a module, at the top or inside a function, is an edge between the parts of
the package (``credsync.people``, ``credsync.hooks``, a top-level module like ``credsync.dagkit``...).
A lazy import inside a function still makes the two parts depend on each other, so it counts.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "credsync"

# Layers that run Airflow tasks or talk to outside systems. A plain decision module (mapping,
# identity, rules, reconciliation SQL, the ingest shape) must not import them.
UPPER = {"credsync.dagkit", "credsync.operators", "credsync.hooks", "credsync.tenant_labels"}
PLAIN = {"credsync.mapping", "credsync.ingest", "credsync.objects", "credsync.paths", "credsync.tenants",
         "credsync.csv_safe", "credsync.http_transient", "credsync.quality"}


def part(module: str) -> str:
    """``credsync.people.flow`` → ``credsync.people``; ``credsync.dagkit`` stays itself."""
    pieces = module.split(".")
    if len(pieces) >= 2 and (PACKAGE / pieces[1]).is_dir():
        return ".".join(pieces[:2])
    return ".".join(pieces[:2]) if len(pieces) >= 2 else module


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("credsync"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this package
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.startswith("credsync"):
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for path in sorted(PACKAGE.rglob("*.py")):
        source = part(module_name(path))
        for target in imports_of(path):
            if part(target) != source:
                edges[source].add(part(target))
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one part (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(set(edges) | {t for targets in edges.values() for t in targets}):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_imports_it_should() -> None:
    """Guards the test itself: a known edge of each kind (top-level, lazy, relative) is found."""
    edges = graph()
    assert "credsync.ingest" in edges["credsync.people"]  # top-level import in people/staging.py
    assert "credsync.quality" in edges["credsync.ingest"]  # lazy import inside ingest.gate.gate_batch
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles_between_the_parts_of_credsync() -> None:
    found = cycles(graph())
    assert found == [], "import cycles (each list depends on itself through the others): " + "; ".join(
        " → ".join(c) for c in found)


@pytest.mark.parametrize("plain", sorted(PLAIN))
def test_plain_modules_never_import_the_layers_above(plain: str) -> None:
    upward = sorted(graph().get(plain, set()) & UPPER)
    assert upward == [], f"{plain} imports {', '.join(upward)}: decisions must not depend on Airflow tasks or hooks"
