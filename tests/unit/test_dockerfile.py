"""docker/Dockerfile, checked without a Docker engine: every COPY source is in the build context
(allowed by docker/Dockerfile.dockerignore), and the runtime stage installs only runtime requirements."""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
IGNORE = ROOT / "docker" / "Dockerfile.dockerignore"


def instructions() -> list[tuple[str, str]]:
    """(stage, instruction line) pairs, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stage, found = "", []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stage = line.split()[-1]
        found.append((stage, line))
    return found


def ignore_patterns() -> list[str]:
    lines = IGNORE.read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def in_context(relative: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = Path(relative).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for pattern in ignore_patterns():
        negated = pattern.startswith("!")
        glob = pattern.lstrip("!").rstrip("/")
        if any(fnmatch.fnmatchcase(c, glob) or fnmatch.fnmatchcase(c, glob.removeprefix("**/")) for c in candidates):
            included = negated
    return included


def copy_sources() -> list[str]:
    sources = []
    for _, line in instructions():
        if line.upper().startswith("COPY "):
            args = [a for a in shlex.split(line)[1:] if not a.startswith("--")]
            sources += args[:-1]
    return sources


def test_stages_are_runtime_then_dev() -> None:
    stages = [line.split()[-1] for _, line in instructions() if line.upper().startswith("FROM ")]
    assert stages == ["runtime", "dev"], stages


@pytest.mark.parametrize("source", copy_sources())
def test_copy_source_exists_and_is_in_the_build_context(source: str) -> None:
    matches = list(ROOT.glob(source.rstrip("/")))
    assert matches, f"COPY {source}: nothing in the repo"
    for match in matches:
        files = [match] if match.is_file() else [p for p in match.rglob("*") if p.is_file()]
        kept = [f for f in files if in_context(str(f.relative_to(ROOT)))]
        assert kept, f"COPY {source}: excluded from the build context by {IGNORE.name}"


def test_build_context_keeps_caches_and_dev_code_out() -> None:
    assert in_context("plugins/credsync/paths.py")
    assert not in_context("plugins/credsync/__pycache__/paths.cpython-311.pyc")
    assert not in_context("sandbox/launcher.py")
    assert not in_context("credsync_dev/localenv/demo.py")
    assert not in_context("tests/conftest.py")


def test_runtime_stage_installs_no_dev_requirements() -> None:
    runtime = " ".join(line for stage, line in instructions() if stage == "runtime")
    assert "requirements-dev.txt" not in runtime
    assert "-r /opt/credsync/requirements.txt -c /opt/credsync/constraints.txt" in runtime
    assert re.search(r"pip install [^&]*/opt/credsync/src", runtime), "runtime stage must pip install the package"
