"""The on-call commands as README.md and docs/runbook.md write them, for tests that run them verbatim.

A test takes its command from here rather than a copy of its own, so when the docs change the test
runs what they now say (and fails if that no longer works or no longer exists).
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
RUNBOOK = ROOT / "docs" / "runbook.md"


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def inline_commands(path: Path, prefix: str) -> list[str]:
    """Every `inline code` span of ``path`` starting with ``prefix`` (line breaks inside a span read as spaces)."""
    found = re.findall(r"`(" + re.escape(prefix) + r"[^`]*)`", text(path).replace("\n", " "))
    assert found, f"{path.name} has no `{prefix} …` command"
    return [re.sub(r"\s+", " ", command).strip() for command in found]


def inline_command(path: Path, prefix: str) -> str:
    return inline_commands(path, prefix)[0]


def block_after(path: Path, marker: str, language: str = "sh") -> str:
    """The first fenced ``language`` block after the line holding ``marker``."""
    body = text(path)
    start = body.find(marker)
    assert start >= 0, f"{path.name} has no {marker!r}"
    # A block inside a list item is indented with it.
    match = re.compile(r"^[ \t]*```" + re.escape(language) + r"\n(.*?)^[ \t]*```", re.S | re.M).search(body, start)
    assert match, f"{path.name}: no ```{language} block after {marker!r}"
    return textwrap.dedent(match.group(1))


def shell_lines(block: str, prefix: str) -> list[str]:
    """The commands of a fenced block starting with ``prefix`` (comments and other commands left out)."""
    return [line.strip() for line in block.splitlines() if line.strip().startswith(prefix)]


def anchor(heading: str) -> str:
    """GitHub's anchor for a markdown heading (what ``docs/runbook.md#…`` links use)."""
    slug = heading.strip().lower()
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


def runbook_anchors() -> list[str]:
    """Every ``## `` section of the runbook, as its anchor."""
    return [anchor(line[3:]) for line in text(RUNBOOK).splitlines() if line.startswith("## ")]


def readme_oncall_recipes() -> list[str]:
    """The bold recipe names of the README's *On call* section (``**Rerun one tenant's mapped task.**`` …)."""
    body = text(README)
    section = body[body.index("## On call"):]
    following = section.find("\n## ", 3)
    section = section if following < 0 else section[:following]
    return [re.sub(r"\.$", "", name) for name in re.findall(r"^\*\*([^*]+)\*\*", section, re.M)]
