"""Great Expectations gates: ``run_gate`` validates a staged batch in Postgres before it reaches core.

Usage (any staging table with ``tenant_id`` and ``batch_id`` columns)::

    import great_expectations as gx
    from credsync.quality import run_gate

    result = run_gate(url, suite_name="lrs_statements", table="staging.completions",
                      batch_id=batch_id, tenant_id="acme",
                      expectations=[gx.expectations.ExpectColumnValuesToNotBeNull(column="employee_id")])
    if not result.success:
        reject_batch(conn, batch_id, result)   # credsync.quality.batches
"""

from credsync.quality.gate import GateResult, run_gate

__all__ = ["GateResult", "run_gate"]
