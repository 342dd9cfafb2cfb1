"""The dashboards page and the findings drill-down as self-contained HTML (inline CSS and SVG).

Links are relative to the app's mount point (``/credsync-ui`` by default), so the page works
behind a proxy and inside the Airflow UI's plugin frame.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlencode

from credsync.ui.charts import duration_unit, line_chart
from credsync.ui.queries import Dashboard

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.2em 1.6em;color:#1a202c}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.4em 0 .4em}
nav a{margin-right:.8em}nav a.current{font-weight:bold;text-decoration:none;color:#1a202c}
.headline{display:flex;gap:1em;flex-wrap:wrap;margin:.8em 0}
.headline div{border:1px solid #cbd5e0;border-radius:6px;padding:.5em .9em;min-width:11em}
.headline b{display:block;font-size:1.3em}
figure.chart{margin:.6em 0;max-width:760px}figure.chart svg{width:100%;height:auto}
p.empty{border:1px dashed #a0aec0;border-radius:6px;padding:1em;color:#4a5568;max-width:720px}
table{border-collapse:collapse;font-size:.9em;margin:.3em 0}td,th{border:1px solid #cbd5e0;padding:3px 8px}
th{background:#edf2f7;text-align:left}td.num{text-align:right}
details{margin:.3em 0}.blocked{color:#c53030;font-weight:bold}.passed{color:#2f855a}
.muted{color:#718096;font-size:.85em}
"""


def dashboard_page(data: Dashboard, tenants: Sequence[str], *, docs_link: Any = None) -> str:
    """The page for one tenant (or all); ``docs_link(url, tenant)`` turns a stored Data Docs URL into a link."""
    scope = data.tenant_id or "all tenants"
    parts = [_nav(tenants, data.tenant_id), f"<h1>credsync on call: {_e(scope)}</h1>",
             f'<p class="muted">From the warehouse at {_e(data.generated_at.strftime("%Y-%m-%d %H:%M %Z"))}; '
             "charts cover the last 90 days that have data.</p>"]
    if data.empty:
        parts.append('<p class="empty" id="empty-state">Nothing to show yet for ' + _e(scope) + ": no delivery, "
                     "reconciliation run, dead letter or gate verdict in the warehouse. Run the pipelines "
                     "(<code>make demo</code>, or trigger the DAGs) and reload.</p>")
        return _document(f"credsync dashboards: {scope}", "".join(parts))
    parts.append(_headline(data))
    parts.append(_delivery_section(data))
    parts.append(_drift_section(data))
    parts.append(_latency_section(data))
    parts.append(_path_latency_table(data))
    parts.append(_findings_section(data))
    parts.append(_dead_letters_section(data))
    parts.append(_verdicts_section(data, docs_link))
    return _document(f"credsync dashboards: {scope}", "".join(parts))


def findings_page(tenant_id: str, finding_type: str, rows: list[dict[str, Any]], limit: int) -> str:
    body = [f'<p><a href="dashboards?{urlencode({"tenant": tenant_id})}">← dashboards of {_e(tenant_id)}</a></p>',
            f"<h1>Open findings: {_e(finding_type)} ({_e(tenant_id)})</h1>"]
    if not rows:
        body.append('<p class="empty">No open finding of this type.</p>')
    else:
        more = f" (first {limit})" if len(rows) >= limit else ""
        body.append(f"<p>{len(rows)} open{more}, oldest first.</p>")
        body.append(_table(("entity", "employee", "left", "right", "first seen", "seen", "action", "owner"), (
            (r["entity_key"], r["employee_id"] or "", f'{r["left_system"]}: {r["left_value"]}',
             f'{r["right_system"]}: {r["right_value"]}', _when(r["first_seen"]), r["times_seen"],
             r["action"] + (f' ({r["action_detail"]})' if r["action_detail"] else ""), r["owner"])
            for r in rows), table_id="finding-rows"))
    return _document(f"credsync findings: {finding_type}", "".join(body))


def _nav(tenants: Sequence[str], current: str | None) -> str:
    links = [(None, "all tenants"), *[(t, t) for t in tenants]]
    items = "".join(
        f'<a href="dashboards{"?" + urlencode({"tenant": t}) if t else ""}"'
        f'{" class=current" if t == current else ""}>{_e(label)}</a>' for t, label in links)
    return f"<nav>{items}</nav>"


def _headline(data: Dashboard) -> str:
    cards = []
    for channel in ("registry", "HRIS write-back"):
        days = [d for d in data.delivery if d.channel == channel]
        if days:
            last = days[-1]
            cards.append(f'<div data-metric="{_e(channel)} success"><span>{_e(channel)} success, '
                         f'{last.day:%Y-%m-%d}</span><b>{last.success_pct:.1f}%</b>'
                         f'<span class="muted">{last.succeeded} of {last.finished} delivered</span></div>')
    registry = [d for d in data.delivery if d.channel == "registry" and d.latency_p95_s is not None]
    if registry:
        last = registry[-1]
        unit, size = duration_unit([last.latency_p95_s])
        cards.append(f'<div data-metric="registry latency p95"><span>registry latency p95, {last.day:%Y-%m-%d}</span>'
                     f"<b>{last.latency_p95_s / size:.1f} {unit}</b>"
                     f'<span class="muted">completion → acknowledgement, {last.live} live</span></div>')
    cards.extend(_event_path_cards(data))
    return f'<div class="headline">{"".join(cards)}</div>' if cards else ""


def _event_path_cards(data: Dashboard) -> list[str]:
    """p50/p95 of the completion event path (webhook → run) to the registry ack and the HRIS write-back."""
    cards = []
    for stage in ("registry ack", "HRIS write-back"):
        found = next((p for p in data.path_latency if p.path == "event" and p.stage == stage), None)
        if found is None:
            continue
        unit, size = duration_unit([found.p95_s])
        cards.append(f'<div data-metric="event {_e(stage)} latency"><span>event path: completion → {_e(stage)}</span>'
                     f"<b>p50 {found.p50_s / size:.1f} {unit} · p95 {found.p95_s / size:.1f} {unit}</b>"
                     f'<span class="muted">{found.credentials} credentials, last 90 days</span></div>')
    return cards


def _path_latency_table(data: Dashboard) -> str:
    """Event path beside the scheduled pull, per stage (table id ``path-latency-data``)."""
    if not data.path_latency:
        return ""
    unit, size = duration_unit([p.p95_s for p in data.path_latency])
    return "<h3>Completion event path and scheduled pull</h3>" + _table(
        ("path", "completion →", "p50", "p95", "credentials"),
        ((p.path, p.stage, f"{p.p50_s / size:.1f} {unit}", f"{p.p95_s / size:.1f} {unit}", p.credentials)
         for p in data.path_latency), table_id="path-latency-data")


def _delivery_section(data: Dashboard) -> str:
    head = "<h2>Delivery success</h2>"
    if not data.delivery:
        return head + _empty("delivery-success", "No registry push or HRIS write-back finished in the last 90 "
                             "days. They appear here after registry_push / hris_writeback runs.")
    series: dict[str, list] = defaultdict(list)
    for d in data.delivery:
        series[d.channel].append((d.day, d.success_pct))
    chart = line_chart("Delivery success (finished deliveries)", "delivered", series, ylim=(0, 100), percent=True)
    table = _table(("day", "channel", "finished", "delivered", "success"), (
        (f"{d.day:%Y-%m-%d}", d.channel, d.finished, d.succeeded, f"{d.success_pct:.1f}%") for d in data.delivery),
        table_id="delivery-success-data")
    return head + _figure("delivery-success", chart, "Share of finished deliveries (acknowledged or delivered, "
                          "out of those plus dead letters) per day.", table)


def _drift_section(data: Dashboard) -> str:
    head = "<h2>Data drift per comparison</h2>"
    if not data.drift:
        return head + _empty("drift", "No reconciliation run in the last 90 days: the reconciliation DAG "
                             "records drift per comparison on each run.")
    series: dict[str, list] = defaultdict(list)
    for d in data.drift:
        series[d.comparison].append((d.day, d.drift_pct))
    top = max(1.0, max(d.drift_pct for d in data.drift) * 1.15)
    chart = line_chart("Drift (entities with a finding)", "of compared entities", series, ylim=(0, top), percent=True)
    table = _table(("day", "comparison", "drifted", "compared", "drift"), (
        (f"{d.day:%Y-%m-%d}", d.comparison, d.drifted, d.population, f"{d.drift_pct:.2f}%") for d in data.drift),
        table_id="drift-data")
    return head + _figure("drift", chart, "Share of compared entities with at least one open finding, from "
                          "each day's last reconciliation run (the gate allows 1 %).", table)


def _latency_section(data: Dashboard) -> str:
    head = "<h2>Sync latency (completion → delivery)</h2>"
    days = [d for d in data.delivery if d.latency_p50_s is not None]
    history = sum(d.history for d in data.delivery)
    note = (f'<p class="muted" id="latency-history">{history} deliveries of completions that arrived as history '
            "(credential issued more than 30 days after the completion: a first load or a full pull) are not "
            "counted as latency.</p>") if history else ""
    if not days:
        return head + _empty("latency", "No delivery of a live completion in the last 90 days, so no latency to "
                             "show.") + note
    unit, size = duration_unit([d.latency_p95_s or 0 for d in days])
    series: dict[str, list] = defaultdict(list)
    for d in days:
        series[f"{d.channel} p50"].append((d.day, d.latency_p50_s / size))
        series[f"{d.channel} p95"].append((d.day, (d.latency_p95_s or 0) / size))
    chart = line_chart("Completion to delivery latency", unit, series)
    table = _table(("day", "channel", "p50", "p95", "deliveries"), (
        (f"{d.day:%Y-%m-%d}", d.channel, f"{d.latency_p50_s / size:.1f} {unit}",
         f"{(d.latency_p95_s or 0) / size:.1f} {unit}", d.live) for d in days), table_id="latency-data")
    return head + _figure("latency", chart, "From the completion (the credential rule's latest qualifying "
                          "completion) to the registry's acknowledgement or the HRIS profile write-back.",
                          table) + note


def _findings_section(data: Dashboard) -> str:
    head = "<h2>Open findings</h2>"
    if not data.findings:
        return head + '<p class="empty" id="findings-empty">No open reconciliation finding.</p>'
    rows = []
    for f in data.findings:
        link = "findings?" + urlencode({"tenant": f["tenant_id"], "type": f["finding_type"]})
        rows.append((f["tenant_id"], f["comparison"], _Raw(f'<a href="{_e(link)}">{_e(f["finding_type"])}</a>'),
                     f["severity"], f["action"], f["owner"], f["findings"], _when(f["oldest"])))
    return head + _table(("tenant", "comparison", "type", "severity", "action", "owner", "open", "oldest"), rows,
                         table_id="findings")


def _dead_letters_section(data: Dashboard) -> str:
    head = "<h2>Dead letters</h2>"
    if not data.dead_letters:
        return head + '<p class="empty" id="dead-letters-empty">No open dead letter.</p>'
    return head + _table(("tenant", "source", "reason", "open", "oldest", "latest"), (
        (d["tenant_id"], d["source"], d["reason"], d["letters"], _when(d["oldest"]), _when(d["latest"]))
        for d in data.dead_letters), table_id="dead-letters") + (
        '<p class="muted">Fix the cause, then trigger <code>dlq_replay</code> (dry run first; runbook, '
        '"Replay dead letters").</p>')


def _verdicts_section(data: Dashboard, docs_link: Any) -> str:
    head = "<h2>Last gate verdicts</h2>"
    if not data.verdicts:
        return head + '<p class="empty" id="verdicts-empty">No gate has run yet.</p>'
    rows = []
    for v in data.verdicts:
        link = docs_link(v["data_docs_url"], v["tenant_id"]) if docs_link and v["data_docs_url"] else None
        counts = (f'{v["records_in"]} in, {v["records_quarantined"]} quarantined'
                  if v["records_in"] is not None else "")
        rows.append((v["tenant_id"], v["gate"], _when(v["at"]), _Raw(f'<span class="{_e(v["verdict"])}">'
                     f'{_e(v["verdict"])}</span>'), counts, v["failed"] or "",
                     _Raw(f'<a href="{_e(link)}">Data Docs</a>') if link else ""))
    return head + _table(("tenant", "gate", "at", "verdict", "records", "failed rules", ""), rows, table_id="verdicts")


class _Raw(str):
    """Already-escaped HTML for a table cell."""


def _figure(element_id: str, svg: str, caption: str, table: str) -> str:
    return (f'<figure class="chart" id="{element_id}">{svg}<figcaption class="muted">{_e(caption)}</figcaption>'
            f"</figure><details><summary>Values</summary>{table}</details>")


def _empty(element_id: str, text: str) -> str:
    return f'<p class="empty" id="{element_id}-empty">{_e(text)}</p>'


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]], *, table_id: str) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _cell(value: Any) -> str:
    if isinstance(value, _Raw):
        return f"<td>{value}</td>"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="num">{value}</td>'
    return f"<td>{_e(str(value))}</td>"


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else ("" if value is None else str(value))


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _document(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
            f"<body>{body}</body></html>")
