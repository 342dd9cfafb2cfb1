"""Body validation against ``openapi.yaml`` itself, so the served contract is the single truth."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from email_validator import EmailNotValidError, validate_email
from jsonschema import FormatChecker

from sandbox.marketplace.problems import ProblemError
from sandbox.openapi_bodies import OpenApiBodies

CONTRACT_PATH = Path(__file__).with_name("openapi.yaml")
_FORMATS = FormatChecker(formats=("date",))


@_FORMATS.checks("email")
def _is_email(value: object) -> bool:
    """An address a mail system would take (jsonschema's own check only looks for an "@")."""
    if not isinstance(value, str):
        return True
    try:
        validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return False
    return True


@_FORMATS.checks("date-time")
def _is_date_time(value: object) -> bool:
    """RFC 3339 date-time with an offset (jsonschema checks it only with an extra package installed)."""
    if not isinstance(value, str):
        return True
    try:
        return datetime.fromisoformat(value).tzinfo is not None and "T" in value.upper()
    except ValueError:
        return False


#: ``body_errors(schema_name, body)``: violations as ``{"pointer", "message"}``, sorted by pointer.
body_errors = OpenApiBodies(CONTRACT_PATH, _FORMATS).body_errors


def json_body(raw: bytes, content_type: str | None, schema_name: str) -> Any:
    """A request's JSON body checked against ``components.schemas.<schema_name>`` (415 / 422 ``validation_failed``)."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise ProblemError(415, "unsupported_media_type", f"expected application/json, got {media_type or 'nothing'}")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProblemError(422, "validation_failed", f"the body is not JSON: {exc}",
                           errors=[{"pointer": "", "message": str(exc)}]) from None
    errors = body_errors(schema_name, body)
    if errors:
        raise ProblemError(422, "validation_failed",
                           f"the body does not match {schema_name}: {errors[0]['pointer'] or '/'}: "
                           f"{errors[0]['message']}", errors=errors)
    return body
