"""The quality gate on a reconciliation run: drift and delivery success thresholds.

Runs the Great Expectations checks of ``credsync.quality.run_gate`` on
``recon.v_run_gate`` (one row per comparison of the run) and records the
outcome on ``recon.runs``. A failed gate raises :class:`ReconGateFailed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from credsync.recon.config import ReconConfig

SUITE_NAME = "recon_run"
GATE_VIEW = "recon.v_run_gate"


class ReconGateFailed(RuntimeError):
    """A run breached a threshold; the message names tenant, run and every breached rule."""


@dataclass(frozen=True)
class GateOutcome:
    success: bool
    summary: str
    failed: list[str]
    data_docs_url: str | None


def expectations(config: ReconConfig) -> list:
    """The run gate's expectations, from include/recon.yaml thresholds (nulls = nothing delivered: pass)."""
    import great_expectations as gx

    return [
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="drift_rate", min_value=0, max_value=config.max_drift_rate,
            meta={"rule": f"drift rate per comparison <= {config.max_drift_rate:.2%}"}),
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="registry_success_rate", min_value=config.min_delivery_success_rate, max_value=1,
            meta={"rule": f"registry delivery success >= {config.min_delivery_success_rate:.2%}"}),
        gx.expectations.ExpectColumnValuesToBeBetween(
            column="writeback_success_rate", min_value=config.min_delivery_success_rate, max_value=1,
            meta={"rule": f"write-back delivery success >= {config.min_delivery_success_rate:.2%}"}),
    ]


def check_run(warehouse_url: str, *, tenant_id: str, run_id: str, config: ReconConfig) -> GateOutcome:
    """Validate run ``run_id`` and record gate_success/gate_summary/status on recon.runs."""
    from credsync.quality import run_gate
    from credsync.warehouse import connect

    result = run_gate(
        warehouse_url, suite_name=SUITE_NAME, table=GATE_VIEW, batch_id=run_id, tenant_id=tenant_id,
        expectations=lambda: expectations(config),
    )
    breaches = _breaches(warehouse_url, run_id, config)
    success = result.success and not breaches
    summary = (
        f"reconciliation gate {'passed' if success else 'FAILED'} for tenant {tenant_id} run {run_id}"
        + ("" if success else ": " + "; ".join(breaches or result.failed))
    )
    with connect(warehouse_url) as conn:
        conn.execute(
            "UPDATE recon.runs SET gate_success = %s, gate_summary = %s, status = %s WHERE run_id = %s",
            (success, summary, "passed" if success else "failed", run_id),
        )
    return GateOutcome(success, summary, breaches or list(result.failed), result.data_docs_url)


def _breaches(warehouse_url: str, run_id: str, config: ReconConfig) -> list[str]:
    """The breached thresholds in words (GX says which expectation; this says which comparison)."""
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        rows = conn.execute(
            "SELECT comparison, drift_rate, registry_success_rate, writeback_success_rate "
            "FROM recon.v_run_gate WHERE batch_id = %s ORDER BY comparison",
            (run_id,),
        ).fetchall()
    breaches = [
        f"{comparison} drift {float(drift):.2%} > {config.max_drift_rate:.2%}"
        for comparison, drift, _, _ in rows if drift > config.max_drift_rate
    ]
    if rows:
        _, _, registry, writeback = rows[0]
        for name, rate in (("registry delivery success", registry), ("write-back delivery success", writeback)):
            if rate is not None and rate < config.min_delivery_success_rate:
                breaches.append(f"{name} {float(rate):.2%} < {config.min_delivery_success_rate:.2%}")
    return breaches
