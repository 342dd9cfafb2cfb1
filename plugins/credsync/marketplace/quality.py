"""The GX gate on the initial bulk export (staging.marketplace_export), before anything is sent.

The mapping judged each record; the gate checks the file as the marketplace will read it, in SQL:
one line per member id, every member id and email present and well-formed, scores on 0-100,
enrollment states from the contract's three, every URL https and every completion a timestamped true.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

SUITE_NAME = "marketplace_export"
TABLE = "staging.marketplace_export"
KEY_COLUMNS = ("member_id", "line_no")
MEMBER_ID = r"^([A-Za-z0-9][A-Za-z0-9._-]{0,63}|psn_[a-z2-7]{20})$"
EMAIL = r"^[^@\s+A-Z]+@[^@\s]+\.[^@\s]+$"
STATES = r"^((active|completed|dropped)(,(active|completed|dropped))*)?$"


def export_expectations() -> list[Any]:
    import great_expectations as gx

    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToBeUnique(column="member_id", meta={"rule": "member_id_unique"}),
        ex.ExpectColumnValuesToNotBeNull(column="member_id", meta={"rule": "member_id_present"}),
        ex.ExpectColumnValuesToMatchRegex(column="member_id", regex=MEMBER_ID, meta={"rule": "member_id_form"}),
        ex.ExpectColumnValuesToNotBeNull(column="email", meta={"rule": "email_present"}),
        ex.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL, meta={"rule": "email_normalised"}),
        ex.ExpectColumnValuesToBeBetween(column="min_score", min_value=0, max_value=100,
                                         meta={"rule": "score_0_100"}),
        ex.ExpectColumnValuesToBeBetween(column="max_score", min_value=0, max_value=100,
                                         meta={"rule": "score_0_100"}),
        ex.ExpectColumnValuesToMatchRegex(column="enrollment_states", regex=STATES,
                                          meta={"rule": "enrollment_state"}),
        ex.ExpectColumnValuesToBeInSet(column="urls_https", value_set=[True], meta={"rule": "url_https"}),
        ex.ExpectColumnValuesToBeInSet(column="completed_flags", value_set=[True],
                                       meta={"rule": "learning_completed"}),
    ]


def stage(conn: psycopg.Connection, tenant_id: str, members: list[dict[str, Any]]) -> str:
    """One staged row per export line; returns the batch id."""
    batch_id = str(uuid.uuid4())
    rows = []
    for line_no, m in enumerate(members, start=1):
        scores = [s["score"] for s in m.get("score", [])]
        urls = [b["credential_url"] for b in m.get("badge_awarded", [])]
        urls += [c["url"] for c in m.get("certificate_ref", [])]
        completions = m.get("learning_completed", [])
        rows.append((tenant_id, batch_id, line_no, m.get("member_id"), m.get("email"),
                     min(scores) if scores else None, max(scores) if scores else None,
                     ",".join(e["state"] for e in m.get("enrollment_state", [])),
                     all(str(u).startswith("https://") for u in urls),
                     all(c.get("completed") is True and c.get("completed_at") for c in completions)))
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO staging.marketplace_export (tenant_id, batch_id, line_no, member_id, email, min_score,"
            " max_score, enrollment_states, urls_https, completed_flags) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", rows)
    return batch_id
