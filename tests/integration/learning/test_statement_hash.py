"""The statement content hash (migration 0027) equals the five-key form every stored hash was made with."""

from __future__ import annotations

import json

STATEMENTS = [
    {"id": "a", "actor": {"mbox": "mailto:x@example.com"}, "verb": {"id": "http://adlnet.gov/expapi/verbs/passed"},
     "object": {"id": "https://lms.example.com/c/1"}, "stored": "2026-01-01T00:00:00Z", "authority": {"name": "lrs"},
     "version": "1.0.3", "timestamp": "2026-01-01T00:00:00Z", "result": {"score": {"scaled": 0.9}}},
    # nested keys of the same names are content, not metadata: both forms keep them
    {"object": {"id": "x", "definition": {"extensions": {"version": "2", "timestamp": "t"}}}, "context": {"id": 1}},
    {"actor": {"name": "Ünïcode \u200f"}, "verb": {"id": "v"}},
    {},
    ["not", "an", "object"],
    "a string",
]


def test_the_one_step_hash_equals_the_chained_form(warehouse) -> None:
    for statement in STATEMENTS:
        for happened_at in ("2026-03-01T10:00:00+03:00", None):
            new, old = warehouse.execute(
                """
                SELECT core.statement_content_hash(%(s)s::jsonb, %(t)s::timestamptz),
                       encode(sha256(convert_to(
                           CASE WHEN jsonb_typeof(%(s)s::jsonb) = 'object'
                                THEN (%(s)s::jsonb - 'stored' - 'authority' - 'version' - 'id' - 'timestamp')::text
                                ELSE %(s)s::jsonb::text END
                           || '|' || coalesce(extract(epoch FROM %(t)s::timestamptz)::text, ''), 'UTF8')), 'hex')
                """, {"s": json.dumps(statement), "t": happened_at}).fetchone()
            assert new == old, statement
    # and it still ignores exactly the metadata keys
    with_meta, without = (warehouse.execute("SELECT core.statement_content_hash(%s::jsonb, NULL)", (json.dumps(s),))
                          .fetchone()[0] for s in (STATEMENTS[0], {k: v for k, v in STATEMENTS[0].items()
                                                                   if k not in ("id", "stored", "authority",
                                                                                "version", "timestamp")}))
    assert with_meta == without
