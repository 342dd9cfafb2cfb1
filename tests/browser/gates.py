"""A real GX gate that blocks a batch, its Data Docs in the test store and its row on audit.batches."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

TABLE = "staging.oncall_rows"
SUITE = "oncall_rows"
BAD = ("R003", "R005")


@dataclass(frozen=True)
class BlockedGate:
    batch_id: str
    data_docs_url: str
    summary: str
    tenant_id: str = "acme"


def run_blocked_gate(warehouse_url: str, docs_store: str) -> BlockedGate:
    """Stage five rows (two with a status outside the allowed set), gate them, record the rejection."""
    import great_expectations as gx
    from credsync.quality import run_gate
    from credsync.warehouse import connect

    batch_id = str(uuid.uuid4())
    with connect(warehouse_url) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (tenant_id text, batch_id uuid, row_key text, status text)")
        for i in range(1, 6):
            key = f"R{i:03d}"
            conn.execute(f"INSERT INTO {TABLE} VALUES ('acme', %s, %s, %s)",
                         (batch_id, key, "bogus" if key in BAD else "active"))
        conn.commit()
    result = run_gate(warehouse_url, suite_name=SUITE, table=TABLE, batch_id=batch_id, tenant_id="acme",
                      key_columns=("row_key",), data_docs_store=docs_store, expectations=[
                          gx.expectations.ExpectColumnValuesToNotBeNull(column="row_key", meta={"rule": "has_key"}),
                          gx.expectations.ExpectColumnValuesToBeInSet(column="status", value_set=["active", "leave"],
                                                                      meta={"rule": "status_allowed"}),
                      ])
    assert not result.success and result.data_docs_url, result.summary
    with connect(warehouse_url) as conn:
        conn.execute(
            "INSERT INTO audit.batches (batch_id, tenant_id, source, stream, status, records_in, validation,"
            " data_docs_url) VALUES (%s, 'acme', 'hris', 'workers', 'rejected', 5, %s, %s)",
            (batch_id, json.dumps(result.validation), result.data_docs_url))
        conn.commit()
    return BlockedGate(batch_id, result.data_docs_url, result.summary)
