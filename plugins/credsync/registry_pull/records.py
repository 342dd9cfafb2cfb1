"""What a registry may read about a tenant's learners: the registry mappings decide every field.

Credentials go out through ``registry_certificate_v1`` (what the push sends, plus the credential's
status), training records through ``registry_training_record_v1``. A credential or record that its
mapping refuses is withheld and counted, never sent half-mapped.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import dict_row

from credsync.delivery.payload import build_certificate, registry_mapping
from credsync.mapping.engine import FieldMapping, MappingError, load_mapping
from credsync.paths import sql_text

TRAINING_MAPPING = ("registry_training_record", "v1")
MAX_PAGE = 200


class BadCursor(ValueError):
    """A ``cursor`` that this endpoint did not hand out."""


@dataclass
class LearnerPage:
    learners: list[dict[str, Any]]
    next_cursor: str | None
    withheld: int = 0
    credentials: int = 0


def encode_cursor(employee_id: str) -> str:
    return base64.urlsafe_b64encode(employee_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    try:
        decoded = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        decoded = None
    if not decoded or encode_cursor(decoded) != cursor:
        raise BadCursor("cursor is not one this endpoint handed out")
    return decoded


def learners_page(conn: psycopg.Connection, tenant_id: str, *, cursor: str | None, limit: int) -> LearnerPage:
    """One page of learners holding credentials, after ``cursor``, each with credentials and training."""
    after = decode_cursor(cursor)
    with conn.cursor() as cur:
        cur.execute(sql_text("registry_pull/learners_page.sql"),
                    {"tenant_id": tenant_id, "after": after, "limit": limit + 1})
        ids = [row[0] for row in cur.fetchall()]
    more = len(ids) > limit
    ids = ids[:limit]
    page = learner_records(conn, tenant_id, ids)
    page.next_cursor = encode_cursor(ids[-1]) if more and ids else None
    return page


def learner_records(conn: psycopg.Connection, tenant_id: str, learner_ids: Sequence[str]) -> LearnerPage:
    """The mapped records of ``learner_ids`` (learners without a credential are left out)."""
    params = {"tenant_id": tenant_id, "learners": list(learner_ids)}
    with conn.cursor(row_factory=dict_row) as cur:
        credentials = cur.execute(sql_text("registry_pull/credentials.sql"), params).fetchall()
        training = cur.execute(sql_text("registry_pull/training_records.sql"), params).fetchall()
    page = LearnerPage(learners=[], next_cursor=None)
    by_learner: dict[str, dict[str, Any]] = {}
    certificate_mapping = registry_mapping()
    for row in credentials:
        mapped = _mapped_credential(row, certificate_mapping)
        learner = by_learner.setdefault(row["employee_id"], _learner(row["employee_id"]))
        if mapped is None:
            page.withheld += 1
            continue
        learner["credentials"].append(mapped)
        page.credentials += 1
    training_mapping = load_mapping(*TRAINING_MAPPING)
    for row in training:
        learner = by_learner.get(row["employee_id"])
        if learner is None:
            continue
        mapped = _mapped(row, training_mapping)
        if mapped is None:
            page.withheld += 1
            continue
        learner["training_records"].append(mapped)
    page.learners = [by_learner[i] for i in learner_ids if i in by_learner]
    return page


def allowed_fields() -> dict[str, frozenset[str]]:
    """Every field a response may carry per object (tests hold responses to this)."""
    return {
        "learner": frozenset({"learner_id", "credentials", "training_records"}),
        "credential": frozenset(registry_mapping().target_fields) | {"status"},
        "training_record": frozenset(load_mapping(*TRAINING_MAPPING).target_fields),
    }


def _learner(employee_id: str) -> dict[str, Any]:
    return {"learner_id": employee_id, "credentials": [], "training_records": []}


def _mapped_credential(row: Mapping[str, Any], mapping: FieldMapping) -> dict[str, Any] | None:
    try:
        certificate = build_certificate(row, mapping, record_key=str(row.get("credential.version_tag")))
    except MappingError:
        return None
    return {**certificate, "status": row["status"]}


def _mapped(row: Mapping[str, Any], mapping: FieldMapping) -> dict[str, Any] | None:
    try:
        return {target: _json(value) for target, value in mapping.apply(row).items()}
    except MappingError:
        return None


def _json(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
