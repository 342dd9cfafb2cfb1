"""Request bodies checked against a sandbox's own ``openapi.yaml``, so the served contract is the single truth.

Each sandbox keeps its format checks (what its contract's ``format`` values mean) and hands them in.
"""

from __future__ import annotations

from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker


class OpenApiBodies:
    """``components.schemas`` of the contract at ``path`` as validators, with ``format`` checked by ``formats``."""

    def __init__(self, path: Path, formats: FormatChecker) -> None:
        self.path, self.formats = path, formats
        self.validator = cache(self._validator)

    @cached_property
    def contract(self) -> dict[str, Any]:
        return yaml.safe_load(self.path.read_text())

    def _validator(self, schema_name: str) -> Draft202012Validator:
        # A root holding the components lets "#/components/schemas/..." refs resolve as in the contract.
        schema = {"components": self.contract["components"], "$ref": f"#/components/schemas/{schema_name}"}
        return Draft202012Validator(schema, format_checker=self.formats)

    def body_errors(self, schema_name: str, body: Any) -> list[dict[str, str]]:
        """Violations of ``components.schemas.<schema_name>`` as ``{"pointer", "message"}``, sorted by pointer."""
        errors = []
        for error in self.validator(schema_name).iter_errors(body):
            pointer = "".join(f"/{str(part).replace('~', '~0').replace('/', '~1')}" for part in error.absolute_path)
            errors.append({"pointer": pointer, "message": error.message})
        return sorted(errors, key=lambda item: (item["pointer"], item["message"]))
