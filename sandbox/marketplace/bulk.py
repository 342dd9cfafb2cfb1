"""Bulk import files: NDJSON (optionally gzip) or CSV, one mapped member record per line.

The checksum covers the bytes as uploaded (compressed, if gzip) and is checked before anything else.
Then every line is judged on its own: a bad line is rejected with its line number and reason, the
rest is imported. Only a file that cannot be read at all (bad gzip, not UTF-8, no CSV header) fails
as a whole. CSV carries the array fields as JSON text in their cells (an empty cell is ``[]``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sandbox.marketplace.contract import body_errors
from sandbox.marketplace.store import MarketplaceStore

NDJSON = "application/x-ndjson"
CSV = "text/csv"
MEDIA_TYPES = (NDJSON, CSV)
CSV_COLUMNS = ("member_id", "email", "learning_completed", "score", "badge_awarded", "enrollment_state",
               "certificate_ref")
ARRAY_COLUMNS = CSV_COLUMNS[2:]


class UnreadableFile(ValueError):
    """The whole file cannot be read; the import fails."""


@dataclass
class ParsedImport:
    members: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, line: int, member_id: str | None, code: str, detail: str) -> None:
        self.errors.append({"line": line, "member_id": member_id, "code": code, "detail": detail})


def decode(raw: bytes, content_encoding: str | None) -> str:
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise UnreadableFile(f"the body is not valid gzip: {exc}") from None
    elif encoding != "identity":
        raise UnreadableFile(f"Content-Encoding {content_encoding!r} is not supported (gzip or none)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"the file is not UTF-8: {exc}") from None


def _ndjson_lines(text: str) -> Iterator[tuple[int, Any, str | None]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line), None
        except ValueError as exc:
            yield number, None, f"line is not JSON: {exc}"


def _csv_lines(text: str) -> Iterator[tuple[int, Any, str | None]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [name for name in ("member_id", "email") if name not in header]
    if missing:
        raise UnreadableFile(f"the CSV header lacks {missing} (columns: {', '.join(CSV_COLUMNS)})")
    unknown = [name for name in header if name not in CSV_COLUMNS]
    if unknown:
        raise UnreadableFile(f"the CSV header has unknown columns {unknown}")
    for row in reader:
        number = reader.line_num  # the physical line the row ends on: a quoted cell may span lines
        if None in row:
            yield number, {"member_id": row.get("member_id")}, "the row has more cells than the header"
            continue
        record: dict[str, Any] = {"member_id": row["member_id"], "email": row["email"]}
        try:
            for name in ARRAY_COLUMNS:
                if name in row:
                    record[name] = json.loads(row[name]) if (row[name] or "").strip() else []
        except ValueError as exc:
            yield number, {"member_id": row["member_id"]}, f"cell {name} is not a JSON array: {exc}"
            continue
        yield number, record, None


def parse(raw: bytes, media_type: str, content_encoding: str | None) -> ParsedImport:
    """Every line of an upload judged: valid members to import, and the rejected lines with reasons."""
    text = decode(raw, content_encoding)
    lines = _ndjson_lines(text) if media_type == NDJSON else _csv_lines(text)
    result = ParsedImport()
    seen: dict[str, int] = {}
    for number, record, error in lines:
        member_id = record.get("member_id") if isinstance(record, dict) else None
        member_id = member_id if isinstance(member_id, str) else None
        if error is not None:
            result.reject(number, member_id, "malformed_line", error)
            continue
        errors = body_errors("MemberProfile", record)
        if errors:
            first = errors[0]
            result.reject(number, member_id, "validation_failed", f"{first['pointer'] or '/'}: {first['message']}")
            continue
        if member_id in seen:
            result.reject(number, member_id, "duplicate_member", f"member {member_id!r} is already on line "
                                                                 f"{seen[member_id]}")
            continue
        seen[member_id] = number
        result.members.append((number, record))
    return result


def run_import(store: MarketplaceStore, import_id: str, tenant: str, raw: bytes, media_type: str,
               encoding: str | None) -> None:
    """Import an accepted upload and store its result (the status GET shows it once the delay is over)."""
    try:
        parsed = parse(raw, media_type, encoding)
    except UnreadableFile as exc:
        store.finish_import(import_id, {"import_id": import_id, "status": "failed", "accepted": 0, "rejected": 0,
                                        "errors": [{"line": 0, "member_id": None, "code": "unreadable_file",
                                                    "detail": str(exc)}]})
        return
    with store.transaction() as db:
        for _line, member in parsed.members:
            store.put_member(db, tenant, member)
    store.finish_import(import_id, {"import_id": import_id, "status": "completed",
                                    "accepted": len(parsed.members), "rejected": len(parsed.errors),
                                    "errors": sorted(parsed.errors, key=lambda e: e["line"])})
