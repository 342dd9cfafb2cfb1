"""What runs in Airflow (plugins/, dags/) imports no development code, not even inside a function.

The fresh-virtualenv test (tests/integration/test_package_install.py) catches module-level imports
by running them; this catches the lazy ones, which only fail when the code path runs in production.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT_DIRS = ("plugins", "dags")
# Import names of the dev/test requirements (requirements-dev.txt) and the repo's dev packages.
DEV_IMPORTS = frozenset({
    "sandbox", "credsync_dev", "tests", "faker", "pgserver", "pytest", "reladiff", "hypothesis", "schemathesis",
    "scim2_server", "scim2_tester", "scim2_client", "didkit", "a2wsgi", "ruff",
})


def _imported_roots(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value.split(".")[0]))
    return found


def product_files() -> list[Path]:
    return sorted(p for d in PRODUCT_DIRS for p in (ROOT / d).rglob("*.py") if "__pycache__" not in p.parts)


def test_there_is_product_code_to_check() -> None:
    assert len(product_files()) > 50


def test_no_development_import() -> None:
    offending = []
    for path in product_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        offending += [f"{path.relative_to(ROOT)}:{line}: {name}"
                      for line, name in _imported_roots(tree) if name in DEV_IMPORTS]
    assert offending == [], "product code imports development code:\n" + "\n".join(offending)


def test_the_check_sees_a_lazy_import() -> None:
    source = "def f():\n    from sandbox.launcher import generate_secrets\n    importlib.import_module('faker')\n"
    assert [name for _, name in _imported_roots(ast.parse(source))] == ["sandbox", "faker"]
