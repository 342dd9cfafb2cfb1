"""A static report per tenant: delivery success, drift and sync latency over time.

Writes ``index.html`` plus one PNG per chart to ``<report store>/<tenant>/`` through the object store
(:func:`report_store`); opens in any browser, no BI tool needed. Reads the analyst views.
"""

from __future__ import annotations

import html
import io
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from credsync.objects import store_path, write_atomically

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

CHARTS = ("delivery_success.png", "drift.png", "latency.png")
REPORT_FOLDER, REPORT_ENV = "reports", "CREDSYNC_REPORT_STORE"


def report_store(location: Any = None) -> ObjectStoragePath:
    """Where reports go: ``location`` (a run's ``report_dir``, or ``report_dir`` of include/recon.yaml: a
    store URL or absolute path) if given, else ``$CREDSYNC_REPORT_STORE``, else ``$CREDSYNC_OBJECT_STORE/reports``."""
    return store_path(REPORT_FOLDER, REPORT_ENV, explicit=location)


def build_report(warehouse_url: str, tenant_id: str, out_dir: Any = None, *, days: int = 90) -> ObjectStoragePath:
    """Render the report of ``tenant_id`` for the last ``days`` days into ``out_dir`` (see
    :func:`report_store`); returns the HTML page's path. Each file is written whole, so a reader
    never sees half a chart."""
    import matplotlib

    matplotlib.use("Agg")  # no display on workers
    import matplotlib.pyplot as plt

    from credsync.warehouse import connect

    target = report_store(out_dir) / tenant_id
    with connect(warehouse_url) as conn:
        latency = conn.execute(
            "SELECT day, registry_success_rate, writeback_success_rate, registry_latency_p50_s, "
            "registry_latency_p95_s, writeback_latency_p50_s, writeback_latency_p95_s "
            "FROM recon.v_latency_daily WHERE tenant_id = %s AND day > current_date - %s ORDER BY day",
            (tenant_id, days),
        ).fetchall()
        drift = conn.execute(
            "SELECT day, comparison, drift_rate FROM recon.v_drift_daily "
            "WHERE tenant_id = %s AND day > current_date - %s ORDER BY day, comparison",
            (tenant_id, days),
        ).fetchall()
        open_findings = conn.execute(
            "SELECT finding_type, severity, action, owner, count(*) FROM recon.v_open_findings "
            "WHERE tenant_id = %s GROUP BY 1, 2, 3, 4 ORDER BY 5 DESC, 1",
            (tenant_id,),
        ).fetchall()

    days_axis = [r[0] for r in latency]
    _line_chart(plt, target / "delivery_success.png", "Delivery success rate", "share delivered", days_axis, {
        "registry": [_pct(r[1]) for r in latency], "HRIS write-back": [_pct(r[2]) for r in latency]})
    series: dict[str, dict] = defaultdict(dict)
    for day, comparison, rate in drift:
        series[comparison][day] = _pct(rate)
    drift_days = sorted({r[0] for r in drift})
    _line_chart(plt, target / "drift.png", "Drift rate per comparison", "% of entities", drift_days,
                {c: [v.get(d) for d in drift_days] for c, v in sorted(series.items())})
    _line_chart(plt, target / "latency.png", "Completion to delivery latency", "hours", days_axis, {
        "registry p50": [_hours(r[3]) for r in latency], "registry p95": [_hours(r[4]) for r in latency],
        "write-back p50": [_hours(r[5]) for r in latency], "write-back p95": [_hours(r[6]) for r in latency]})

    page = target / "index.html"
    write_atomically(page, _html(tenant_id, latency, open_findings).encode("utf-8"))
    return page


def _pct(value: object) -> float | None:
    return None if value is None else float(value) * 100


def _hours(value: object) -> float | None:
    return None if value is None else float(value) / 3600


def _line_chart(plt, path: ObjectStoragePath, title: str, ylabel: str, xs: list, series: dict[str, list]) -> None:
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    for label, ys in series.items():
        points = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
        if points:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=label)
    if not xs:
        ax.text(0.5, 0.5, "no runs yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")
    fig.autofmt_xdate()
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    write_atomically(path, png.getvalue())
    plt.close(fig)


def _html(tenant_id: str, latency: list[tuple], open_findings: list[tuple]) -> str:
    esc = html.escape
    last = latency[-1] if latency else None
    headline = (
        "<p>No reconciliation runs yet.</p>" if last is None else
        f"<p>Last run day {esc(str(last[0]))}: registry success {_fmt_pct(last[1])}, "
        f"write-back success {_fmt_pct(last[2])}, registry latency p95 {_fmt_hours(last[4])}.</p>"
    )
    rows = "".join(
        f"<tr><td>{esc(t)}</td><td>{esc(s)}</td><td>{esc(a)}</td><td>{esc(o)}</td><td>{n}</td></tr>"
        for t, s, a, o, n in open_findings
    ) or '<tr><td colspan="5">No open findings.</td></tr>'
    charts = "".join(f'<img src="{name}" alt="{name}" style="max-width:100%">' for name in CHARTS)
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>credsync reconciliation: {esc(tenant_id)}</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{border:1px solid #ccc;padding:4px 8px}"
        "table{border-collapse:collapse}</style></head><body>"
        f"<h1>Reconciliation report: {esc(tenant_id)}</h1>{headline}{charts}"
        "<h2>Open findings</h2><table><tr><th>type</th><th>severity</th><th>action</th><th>owner</th>"
        f"<th>count</th></tr>{rows}</table></body></html>"
    )


def _fmt_pct(value: object) -> str:
    return "n/a" if value is None else f"{float(value):.2%}"


def _fmt_hours(value: object) -> str:
    return "n/a" if value is None else f"{float(value) / 3600:.1f} h"
