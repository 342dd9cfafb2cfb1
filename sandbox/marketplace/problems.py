"""RFC 9457 problem details with a machine ``code``: the marketplace's error format on every 4xx/5xx."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "https://marketplace.example/problems/"


def problem(status: int, code: str, detail: str, **extensions: Any) -> dict[str, Any]:
    """A problem document; ``code`` is the machine-readable rule broken (e.g. ``insufficient_scope``)."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    return {"type": PROBLEM_BASE + code, "title": title, "status": status, "detail": detail, "code": code,
            **extensions}


class ProblemError(Exception):
    """Raised by handlers to answer with a problem document."""

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extensions: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.body = problem(status, code, detail, **extensions)
        self.headers = headers or {}
