"""The demo's closing summary: per-stage counts for people and for machines."""

from __future__ import annotations

import shlex
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from credsync.paths import sql_text

if TYPE_CHECKING:
    from credsync_dev.localenv.bad_day import BadDay

# What the per-tenant numbers mean (printed under them).
LEGEND = (
    "How to read it: workers = rows in core.workers (every HRIS employee id, terminated ones too); "
    "learners A/B = LMS accounts active / all accounts credsync provisioned (terminated workers keep a "
    "deactivated account); completions = course results loaded, (held N) = results whose person is not "
    "(yet) an HRIS worker, retried every pull; credentials active A/B = active / all issued (expired and "
    "revoked are kept, never deleted); pushed = registry submissions acknowledged, issues and revocations "
    "alike, so it can exceed the credential count; write-backs = rows credsync delivered to the HRIS "
    "(one per worker and credential type on the profile, plus one payroll flag per pay-impacting one), "
    "not a count of credentials."
)


def psql_args(url: str) -> list[str]:
    """``psql`` options for the warehouse at ``url`` (TCP or a socket dir); never the password."""
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    host = query.get("host", [parts.hostname or ""])[0]
    port = query.get("port", [str(parts.port or "")])[0]
    args = ["-h", host] if host else []
    if port:
        args += ["-p", port]
    args += ["-U", unquote(parts.username or "postgres"), "-d", parts.path.lstrip("/") or "postgres"]
    return args


def psql_command(url: str) -> str:
    """How a person opens psql on the warehouse, as one shell line."""
    line = "psql " + " ".join(shlex.quote(a) for a in psql_args(url))
    if urlsplit(url).password:
        line += "  (password: the one in CREDSYNC_DATABASE_URL)"
    return line


def collect_summary(url: str, *, since: datetime, dag_results: list[dict[str, Any]]) -> dict[str, Any]:
    from psycopg.rows import dict_row

    from credsync.warehouse import connect

    with connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text("demo/batch_counts.sql"), {"since": since})
        stages = cur.fetchall()
        cur.execute(sql_text("demo/state_counts.sql"))
        tenants = cur.fetchall()
        cur.execute(sql_text("demo/national_lrs_counts.sql"), {"since": since})
        national = cur.fetchall()
    return {
        "started_at": since.isoformat(),
        "dags": dag_results,
        "stages": stages,
        "tenants": tenants,
        "totals": _totals(tenants),
        "national_lrs": national,
        "latency": latency_today(url),
        "warehouse": {"psql": psql_command(url)},
    }


def latency_today(url: str) -> dict[str, dict[str, Any]]:
    """Completion -> delivery latency of the latest day, per channel, as the dashboards compute it."""
    from credsync.ui.queries import SUCCESS_ONLY_CHANNELS, dashboard

    latest: dict[str, Any] = {}
    for day in dashboard(url, None, days=2).delivery:
        if day.channel not in SUCCESS_ONLY_CHANNELS:  # the marketplace's events carry no such latency
            latest[day.channel] = day  # ordered by day: the last one wins
    return {channel: {"day": str(d.day), "p50_s": d.latency_p50_s, "p95_s": d.latency_p95_s, "live": d.live,
                      "history": d.history} for channel, d in latest.items()}


def latency_lines(latency: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["Completion -> delivery latency (live completions, from the completion time; the credsync dashboards "
             "page in the Airflow UI charts it):"]
    for channel, d in sorted(latency.items(), key=lambda item: item[0] != "registry"):
        shown = (f"p50 {d['p50_s'] / 60:.1f} min, p95 {d['p95_s'] / 60:.1f} min over {d['live']} deliveries"
                 if d["p50_s"] is not None else "no live completion delivered")
        lines.append(f"  {channel:<16} {d['day']}  {shown} ({d['history']} deliveries of history completions, "
                     "a first load, not counted)")
    return lines


def state_counts(url: str) -> list[dict[str, Any]]:
    from psycopg.rows import dict_row

    from credsync.warehouse import connect

    with connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text("demo/state_counts.sql"))
        return cur.fetchall()


def bad_day_summary(url: str, day: BadDay) -> dict[str, Any]:
    """The bad day for the summary: each failure class as seen, its fix, and whether it holds now."""
    from credsync_dev.localenv.bad_day import commands

    tenants = state_counts(url)
    totals = _totals(tenants)
    seen, resolved = day.seen, day.resolved
    checks = {
        "poisoned_record": bool(seen["poisoned_record"]["quarantined"])
        and seen["poisoned_record"]["good_statement_loaded"] and resolved["poisoned_record"]["corrected_loaded"],
        "mass_termination": seen["mass_termination"]["status"] == "rejected"
        and seen["mass_termination_parked"] == len(day.mass_terminated)
        and resolved["mass_termination"]["core_status"] == day.mass_status_before,
        "registry_outage": bool(seen["registry_outage"]["dead_letters"])
        and all(r == {"status": "replayed", "submission": "acknowledged"}
                for r in resolved["registry_outage"]["letters"]),
        "seeded_drift": any(f["entity_key"] == day.drifted_worker for f in seen["seeded_drift"]["findings"])
        and resolved["seeded_drift"]["resolved"],
    }
    clean = totals.get("dead_letters_open", 0) == 0 and totals.get("findings_open", 0) == 0 \
        and totals.get("pushes_pending", 0) == 0
    dags_as_expected = all(d["state"] == d["expected"] for d in day.dags)
    return {**day.as_dict(), "commands": commands(day), "resolved_checks": checks, "tenants_after": tenants,
            "totals_after": totals, "clean_after": clean, "dags_as_expected": dags_as_expected,
            "ok": clean and dags_as_expected and all(checks.values())}


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
    lines += _tenant_lines(summary["tenants"])
    if summary.get("national_lrs"):
        lines += ["", *national_lrs_lines(summary["national_lrs"], summary.get("national_lrs_sandbox"))]
    if summary.get("latency"):
        lines += ["", *latency_lines(summary["latency"])]
    lines += ["", _wrap(LEGEND), "", f"Warehouse: {summary['warehouse']['psql']}"
              "  (or: python -m credsync_dev.localenv.psql, which starts the embedded Postgres if needed)"]
    if "bad_day" in summary:
        lines += render_bad_day(summary["bad_day"])
    return "\n".join(lines)


def render_bad_day(day: dict[str, Any]) -> list[str]:
    seen, resolved, commands = day["seen"], day["resolved"], day["commands"]
    mass = seen["mass_termination"]
    lines = ["", "A bad day, and how on-call resolved it", "======================================"]
    for dag in day["dags"]:
        note = "" if dag["expected"] == "success" else f" (expected: {dag['expected']})"
        lines.append(f"  {dag['dag_id']:<22} {dag['state']:<8} {dag['seconds']:>6}s{note}")
    quarantined = seen["poisoned_record"]["quarantined"]
    lines += [
        "",
        f"1. Poisoned record: LMS statement {day['poisoned_statement']} carries a NUL.",
        "   credsync: " + ("; ".join(f"quarantined, rule {q['rule']}: {q['reason']}" for q in quarantined)
                         or "NOT quarantined")
        + ("; the good statement beside it loaded" if seen["poisoned_record"]["good_statement_loaded"] else ""),
        *[f"   resolve: {c}" for c in commands["poisoned_record"]],
        f"   now: corrected statement loaded {resolved['poisoned_record']['corrected_loaded']}, "
        f"credential issued {resolved['poisoned_record']['credential_issued']}",
        "",
        f"2. Mass termination: the HRIS export marked {mass['terminated']} globex workers terminated.",
        f"   credsync: batch {mass['batch_id']} {mass['status']} by the gate, hris_delta_export {mass['dag_state']}",
        *([f"   gate: {mass['verdict']}"] if mass.get("verdict") else []),
        *[f"   resolve: {c}" for c in commands["mass_termination"]],
        f"   now: {seen['mass_termination_parked']} records parked; their status in core: "
        f"{resolved['mass_termination']['core_status']}",
        "",
        "3. Registry outage: the registry refused every certificate write (HTTP 422).",
        "   credsync: " + (", ".join(f"{d['entity_key']} dead-lettered ({d['reason']})"
                                     for d in seen["registry_outage"]["dead_letters"]) or "no dead letter"),
        *[f"   resolve: {c}" for c in commands["registry_outage"]],
        "   now: " + (", ".join(f"letter {r['status']}, submission {r['submission']}"
                                for r in resolved["registry_outage"]["letters"]) or "-"),
        "",
        f"4. Seeded drift: acme's LMS account of {day['drifted_worker']} switched inactive over SCIM.",
        "   reconciliation: " + (", ".join(f"{f['finding_type']} {f['entity_key']} ({f['action']})"
                                           for f in seen["seeded_drift"]["findings"]) or "nothing found"),
        *[f"   resolve: {c}" for c in commands["seeded_drift"]],
        f"   now: finding resolved {resolved['seeded_drift']['resolved']}",
        "",
        "Warehouse state per tenant after the bad day:",
        *_tenant_lines(day["tenants_after"]),
        *(["", *national_lrs_lines(day["national_lrs_after"], day.get("national_lrs_sandbox_after"))]
          if day.get("national_lrs_after") else []),
        "",
        "clean again: " + ("yes (no open dead letters or findings, nothing pending)" if day["clean_after"] else
                           f"NO: {day['totals_after']}"),
    ]
    return lines


def national_lrs_counts(url: str, *, since: datetime) -> list[dict[str, Any]]:
    """The national LRS ledger per tenant now (include/sql/demo/national_lrs_counts.sql)."""
    from psycopg.rows import dict_row

    from credsync.warehouse import connect

    with connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql_text("demo/national_lrs_counts.sql"), {"since": since})
        return cur.fetchall()


def national_lrs_sandbox(base_url: str, platforms: dict[str, str]) -> dict[str, Any]:
    """What the national LRS sandbox holds, read over its HTTP listing: statements stored per tenant
    (by the platform key each carries; ``platforms`` tenant -> key), receipts, ids received more than once."""
    import httpx

    with httpx.Client(timeout=60) as client:
        listing = client.get(f"{base_url}/sandbox/received").raise_for_status().json()
        statements = client.get(f"{base_url}/xapi/statements").raise_for_status().json()["statements"]
    tenant_of = {key: tenant for tenant, key in platforms.items()}
    stored: dict[str, int] = {}
    for statement in statements:
        tenant = tenant_of.get((statement.get("context") or {}).get("platform"), "unknown platform")
        stored[tenant] = stored.get(tenant, 0) + 1
    repeated = sorted(sid for sid, n in listing["received"].items() if n > 1)
    return {"stored": stored, "stored_ids": len(listing["stored"]), "receipts": sum(listing["received"].values()),
            "received_ids": len(listing["received"]), "received_more_than_once": repeated}


def national_lrs_lines(rows: list[dict[str, Any]], sandbox: dict[str, Any] | None = None) -> list[str]:
    """The national LRS (NELC) ledger per tenant (core.national_lrs_statements; docs/national.md)."""
    lines = ["National LRS (NELC sandbox), statements of learners with a National ID / Iqama:"]
    for r in rows:
        lines.append(
            f"  {r['tenant_id']:<8} national ids {r['national_ids']:>5}  sent {r['sent']:>5}  acknowledged "
            f"{r['acknowledged']:>5}  refused {r['refused']:>3}  pending {r['pending']:>3}  "
            f"(recorded this run {r['recorded_this_run']})")
    if sandbox is not None:
        held = ", ".join(f"{tenant} {n}" for tenant, n in sorted(sandbox["stored"].items())) or "none"
        lines.append(f"  the sandbox holds: {held}; {sandbox['receipts']} receipts of {sandbox['received_ids']} ids, "
                     f"{len(sandbox['received_more_than_once'])} received more than once")
    return lines


def _tenant_lines(tenants: list[dict[str, Any]]) -> list[str]:
    return [
        f"  {t['tenant_id']:<8} workers {t['workers']:>5}  learners {t['learners_active']:>5}/{t['learners']:<5} "
        f"completions {t['completions']:>5} (held {t['completions_held']})  credentials active "
        f"{t['credentials_active']:>4}/{t['credentials']:<4} pushed {t['pushed_acknowledged']:>4} "
        f"(pending {t['pushes_pending']})  write-backs {t['writebacks_delivered']:>4}  "
        f"dead letters {t['dead_letters_open']}  open findings {t['findings_open']}"
        for t in tenants
    ]


def _wrap(text: str) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width=110, subsequent_indent="  "))
