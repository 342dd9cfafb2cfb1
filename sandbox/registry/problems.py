"""RFC 9457 problem details, the registry's error format."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://registry.example/problems/"


def problem(status: int, slug: str, detail: str, **extensions: Any) -> dict[str, Any]:
    """Build a problem document; ``slug`` names the rule broken (e.g. ``duplicate-certificate``)."""
    return {
        "type": PROBLEM_BASE + slug,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **extensions,
    }


class ProblemError(Exception):
    """Raised by handlers to answer with a problem document."""

    def __init__(
        self, status: int, slug: str, detail: str, headers: dict[str, str] | None = None, **extensions: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.body = problem(status, slug, detail, **extensions)
        self.headers = headers or {}
