"""The demo's closing summary: per-stage counts for people and for machines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from credsync.paths import sql_text


def collect_summary(url: str, *, since: datetime, dag_results: list[dict[str, Any]]) -> dict[str, Any]:
    from psycopg.rows import dict_row

    from credsync.warehouse import connect

    with connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text("demo/batch_counts.sql"), {"since": since})
        stages = cur.fetchall()
        cur.execute(sql_text("demo/state_counts.sql"))
        tenants = cur.fetchall()
    return {
        "started_at": since.isoformat(),
        "dags": dag_results,
        "stages": stages,
        "tenants": tenants,
        "totals": _totals(tenants),
    }


def _totals(tenants: list[dict[str, Any]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in tenants:
        for key, value in row.items():
            if key != "tenant_id":
                totals[key] = totals.get(key, 0) + int(value or 0)
    return totals


def render_summary(summary: dict[str, Any]) -> str:
    lines = ["", "credsync demo summary", "====================="]
    for dag in summary["dags"]:
        lines.append(f"  {dag['dag_id']:<22} {dag['state']:<8} {dag['seconds']:>6}s")
    lines.append("")
    lines.append("This run's batches (in = loaded + quarantined + dead-lettered):")
    if not summary["stages"]:
        lines.append("  no new batches (nothing changed at the sources)")
    for s in summary["stages"]:
        lines.append(
            f"  {s['source'] + '/' + s['stream']:<24} in {s['records_in']:>6}  loaded {s['loaded']:>6}  "
            f"quarantined {s['quarantined']:>4}  dead {s['dead_lettered']:>3}  "
            f"batches {s['batches']} ({s['batches_rejected']} rejected)"
        )
    lines.append("")
    lines.append("Warehouse state per tenant:")
    for t in summary["tenants"]:
        lines.append(
            f"  {t['tenant_id']:<8} workers {t['workers']:>5}  learners {t['learners_active']:>5}/{t['learners']:<5} "
            f"completions {t['completions']:>5} (held {t['completions_held']})  credentials active "
            f"{t['credentials_active']:>4}/{t['credentials']:<4} pushed {t['pushed_acknowledged']:>4} "
            f"(pending {t['pushes_pending']})  write-backs {t['writebacks_delivered']:>4}  "
            f"dead letters {t['dead_letters_open']}  open findings {t['findings_open']}"
        )
    return "\n".join(lines)
