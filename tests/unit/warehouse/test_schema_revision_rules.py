"""The head revision the pipelines expect, read without Alembic, and what they say when the schema is not there."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from credsync.warehouse.revision import (
    MIGRATE_COMMAND,
    VERSIONS_DIR,
    SchemaBehind,
    SchemaMismatch,
    expect_revision,
    head_revision,
    revision_chain,
)

ROOT = Path(__file__).resolve().parents[3]


def test_head_is_what_alembic_upgrades_to():
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(VERSIONS_DIR.parent))
    assert head_revision() == script.get_current_head() == "0029_career_path_eligibility"
    assert list(revision_chain()) == [s.revision for s in reversed(list(script.walk_revisions()))]


def test_head_is_read_once_per_process():
    revision_chain.cache_clear()
    head_revision()
    head_revision()
    assert revision_chain.cache_info().misses == 1 and revision_chain.cache_info().hits >= 1


def test_reading_the_head_imports_nothing_heavy():
    """DAG processors and the api-server import this: no Alembic, SQLAlchemy or psycopg."""
    probe = ("import json, sys\n"
             "from credsync.warehouse import head_revision\n"
             "import credsync.people.webhook_app\n"
             "head_revision()\n"
             "print(json.dumps([m for m in ('alembic', 'sqlalchemy', 'psycopg') if m in sys.modules]))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={"PYTHONPATH": f"{ROOT}:{ROOT / 'plugins'}", "PATH": "/usr/bin:/bin"})
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def _write_revisions(directory: Path, pairs: list[tuple[str, str | None]]) -> Path:
    for rev, down in pairs:
        (directory / f"{rev}.py").write_text(f'"""{rev}"""\n\nrevision = "{rev}"\ndown_revision = {down!r}\n')
    return directory


def test_a_branched_chain_is_refused(tmp_path):
    versions = _write_revisions(tmp_path, [("0001_a", None), ("0002_b", "0001_a"), ("0002_c", "0001_a")])
    with pytest.raises(RuntimeError, match="not one linear chain"):
        revision_chain(versions)


def test_a_revision_pointing_outside_the_chain_is_refused(tmp_path):
    versions = _write_revisions(tmp_path, [("0001_a", None), ("0002_b", "0001_a"), ("0004_d", "0003_missing")])
    with pytest.raises(RuntimeError, match="outside the chain"):
        revision_chain(versions)


def test_at_head_passes():
    assert expect_revision("0029_career_path_eligibility") == "0029_career_path_eligibility"


def test_behind_names_both_revisions_and_the_command():
    with pytest.raises(SchemaBehind) as caught:
        expect_revision("0009_identity_bindings", where="warehouse (connection credsync_warehouse)")
    message = str(caught.value)
    assert (caught.value.current, caught.value.expected) == ("0009_identity_bindings", "0029_career_path_eligibility")
    assert "warehouse (connection credsync_warehouse) is at schema revision 0009_identity_bindings" in message
    assert "expects, 0029_career_path_eligibility" in message
    assert MIGRATE_COMMAND in message and "warehouse_migrate DAG" in message


def test_never_migrated_says_so():
    with pytest.raises(SchemaBehind, match=r"has no credsync schema.*expects revision 0029_career_path_eligibility"):
        expect_revision(None)


def test_a_revision_this_code_does_not_know_is_not_called_behind():
    with pytest.raises(SchemaMismatch, match="0099_future, which this code does not know") as caught:
        expect_revision("0099_future")
    assert not isinstance(caught.value, SchemaBehind)
