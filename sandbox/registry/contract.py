"""Request-body validation against ``openapi.yaml`` itself, so the contract is the single truth."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from jsonschema import FormatChecker

from sandbox.openapi_bodies import OpenApiBodies

CONTRACT_PATH = Path(__file__).with_name("openapi.yaml")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
_FORMATS = FormatChecker(formats=("date",))


@_FORMATS.checks("uri")
def _is_absolute_uri(value: object) -> bool:
    """RFC 3986 absolute URI, loosely: a scheme, and no whitespace or control characters."""
    if not isinstance(value, str):
        return True
    return bool(_SCHEME.match(urlsplit(value).scheme)) and not any(c.isspace() or ord(c) < 32 for c in value)


#: ``body_errors(schema_name, body)``: violations as ``{"pointer", "message"}``, sorted by pointer.
body_errors = OpenApiBodies(CONTRACT_PATH, _FORMATS).body_errors
