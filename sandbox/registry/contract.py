"""Request-body validation against ``openapi.yaml`` itself, so the contract is the single truth."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator, FormatChecker

CONTRACT_PATH = Path(__file__).with_name("openapi.yaml")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_FORMATS = FormatChecker(formats=("date",))


@_FORMATS.checks("uri")
def _is_absolute_uri(value: object) -> bool:
    """RFC 3986 absolute URI, loosely: a scheme, and no whitespace or control characters."""
    if not isinstance(value, str):
        return True
    return bool(_SCHEME.match(urlsplit(value).scheme)) and not any(c.isspace() or ord(c) < 32 for c in value)


@cache
def contract() -> dict[str, Any]:
    return yaml.safe_load(CONTRACT_PATH.read_text())


@cache
def _validator(schema_name: str) -> Draft202012Validator:
    # A root holding the components lets "#/components/schemas/..." refs resolve as in the contract.
    schema = {"components": contract()["components"], "$ref": f"#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, format_checker=_FORMATS)


def body_errors(schema_name: str, body: Any) -> list[dict[str, str]]:
    """Violations of ``components.schemas.<schema_name>`` as ``{"pointer", "message"}``, sorted by pointer."""
    errors = []
    for error in _validator(schema_name).iter_errors(body):
        pointer = "".join(f"/{str(part).replace('~', '~0').replace('/', '~1')}" for part in error.absolute_path)
        errors.append({"pointer": pointer, "message": error.message})
    return sorted(errors, key=lambda item: (item["pointer"], item["message"]))
