"""Is the warehouse schema at the revision this code expects? (One SELECT; no DDL, no Alembic.)

Migrations are a deploy step (``python -m credsync.warehouse migrate`` or the
``warehouse_migrate`` DAG), run by a role allowed to change the schema. Pipelines
and the webhook receiver run as the runtime role and only compare
``audit.alembic_version`` with the head of include/sql/alembic/versions.
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from credsync.paths import SQL_DIR, sql_text

VERSIONS_DIR = SQL_DIR / "alembic" / "versions"
MIGRATE_COMMAND = "python -m credsync.warehouse migrate --conn-id credsync_warehouse"
PIPELINE_NEXT = "then clear the failed check_warehouse_schema tasks"


class SchemaMismatch(RuntimeError):
    """The warehouse is not at the revision the code expects; the message says what to run."""

    def __init__(self, current: str | None, expected: str, message: str) -> None:
        super().__init__(message)
        self.current = current
        self.expected = expected


class SchemaBehind(SchemaMismatch):
    """The warehouse is at an older revision of this code's chain, or was never migrated."""


@cache
def revision_chain(versions_dir: Path = VERSIONS_DIR) -> tuple[str, ...]:
    """The revisions of ``versions_dir``, oldest first; read once per process.

    Reads the ``revision`` and ``down_revision`` assignments of each file with
    ``ast`` rather than importing Alembic (DAG processors and the api-server
    load this). The chain must be linear: one root, one head, no branches.
    """
    parent_of: dict[str, str | None] = {}
    for path in sorted(versions_dir.glob("*.py")):
        found = _assignments(path, ("revision", "down_revision"))
        if "revision" not in found:
            continue
        parent_of[found["revision"]] = found.get("down_revision")
    children: dict[str | None, list[str]] = {}
    for rev, parent in parent_of.items():
        children.setdefault(parent, []).append(rev)
    branched = {parent: revs for parent, revs in children.items() if len(revs) > 1}
    if branched or len(children.get(None, [])) != 1:
        raise RuntimeError(f"{versions_dir}: migrations are not one linear chain "
                           f"(roots {children.get(None, [])}, branches {branched})")
    chain = [children[None][0]]
    while chain[-1] in children:
        chain.append(children[chain[-1]][0])
    if len(chain) != len(parent_of):
        raise RuntimeError(f"{versions_dir}: revisions outside the chain: {sorted(set(parent_of) - set(chain))}")
    return tuple(chain)


def head_revision() -> str:
    """The newest revision of include/sql/alembic/versions (what ``migrate`` upgrades to)."""
    return revision_chain()[-1]


def current_revision(url: str) -> str | None:
    """``audit.alembic_version`` of the warehouse at ``url``; None when it was never migrated.

    A role that may not read it gets :class:`SchemaMismatch` saying which grant is missing.
    """
    import psycopg

    from credsync.warehouse.connect import connect

    with connect(url, autocommit=True) as conn:
        try:
            row = conn.execute(sql_text("warehouse/schema_revision.sql")).fetchone()
        except psycopg.errors.UndefinedTable:
            return None
        except psycopg.errors.InsufficientPrivilege:
            # Reported like a mismatch (the pipelines fail, the receiver answers 503) with what to grant.
            raise SchemaMismatch(None, head_revision(), (
                f"role {conn.info.user} may not read audit.alembic_version: the warehouse connection's role "
                "must be a member of credsync_runtime (created and granted by migration 0011)")) from None
    return row[0] if row else None


def check_schema(url: str, *, where: str = "the warehouse", then: str = PIPELINE_NEXT) -> str:
    """The warehouse's revision when it is this code's head; else :class:`SchemaMismatch` saying what to do.

    ``where`` names the database in the message (e.g. the connection id); the URL
    is never put in it, since it may carry a password. ``then`` ends the advice
    (what unblocks the caller once migrated).
    """
    return expect_revision(current_revision(url), where=where, then=then)


def expect_revision(current: str | None, *, where: str = "the warehouse", then: str = PIPELINE_NEXT) -> str:
    """``current`` when it is the head; otherwise the error a pipeline or the webhook receiver reports."""
    expected = head_revision()
    hint = (f"run `{MIGRATE_COMMAND}` (or trigger the warehouse_migrate DAG) with a connection allowed to "
            f"change the schema, {then}")
    if current == expected:
        return current
    if current is None:
        raise SchemaBehind(current, expected, f"{where} has no credsync schema (audit.alembic_version is missing "
                                              f"or empty); this code expects revision {expected}: {hint}")
    if current in revision_chain():
        raise SchemaBehind(current, expected, f"{where} is at schema revision {current}, behind the revision "
                                              f"this code expects, {expected}: {hint}")
    raise SchemaMismatch(current, expected, f"{where} is at schema revision {current}, which this code does "
                                            f"not know (it expects {expected}); the warehouse was migrated by "
                                            "newer code: deploy that code here too (never downgrade a shared "
                                            "warehouse to match old code)")


def _assignments(path: Path, names: tuple[str, ...]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for node in ast.parse(path.read_text(encoding="utf-8"), filename=str(path)).body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in names and node.value is not None:
                    value = ast.literal_eval(node.value)
                    if value is not None and not isinstance(value, str):
                        raise RuntimeError(f"{path}: {target.id} must be one revision, got {value!r}")
                    found[target.id] = value
    return found
