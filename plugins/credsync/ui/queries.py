"""What the dashboards show, read from the warehouse (SQL in ``include/sql/ui/``).

Every query takes a tenant id, or None for every tenant together. Plain psycopg, no Airflow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from credsync.paths import sql_text

#: How far back the charts go.
DAYS = 90
#: Rows of a findings drill-down and of the gate verdict list.
DETAIL_LIMIT = 200
VERDICT_LIMIT = 15
#: Delivery channels whose deliveries are not a credential's completion -> delivery (success only).
SUCCESS_ONLY_CHANNELS = frozenset({"marketplace"})


@dataclass(frozen=True)
class DeliveryDay:
    day: date
    channel: str
    finished: int
    succeeded: int
    latency_p50_s: float | None
    latency_p95_s: float | None
    live: int
    history: int

    @property
    def success_pct(self) -> float:
        return 100.0 * self.succeeded / self.finished if self.finished else 0.0


@dataclass(frozen=True)
class DriftDay:
    day: date
    comparison: str
    drifted: int
    population: int

    @property
    def drift_pct(self) -> float:
        return 100.0 * self.drifted / self.population if self.population else 0.0


@dataclass(frozen=True)
class PathLatency:
    """Completion → ``stage`` (credential, registry ack, HRIS write-back) on one path (event or pull)."""

    path: str
    stage: str
    p50_s: float
    p95_s: float
    credentials: int


@dataclass(frozen=True)
class Dashboard:
    tenant_id: str | None
    delivery: list[DeliveryDay]
    drift: list[DriftDay]
    findings: list[dict[str, Any]]
    dead_letters: list[dict[str, Any]]
    verdicts: list[dict[str, Any]]
    generated_at: datetime = field(default_factory=lambda: datetime.now().astimezone())
    path_latency: list[PathLatency] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.delivery or self.drift or self.findings or self.dead_letters or self.verdicts)


def dashboard(warehouse_url: str, tenant_id: str | None, *, days: int = DAYS) -> Dashboard:
    """Everything the dashboards page shows for ``tenant_id`` (None: every tenant)."""
    from credsync.warehouse import connect

    params = {"tenant_id": tenant_id, "days": days, "limit": VERDICT_LIMIT}
    with connect(warehouse_url) as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        delivery = [DeliveryDay(day, channel, finished, ok, _float(p50), _float(p95), live, history)
                    for day, channel, finished, ok, p50, p95, live, history
                    in conn.execute(sql_text("ui/delivery_daily.sql"), params).fetchall()]
        drift = [DriftDay(day, comparison, int(drifted), int(population))
                 for day, comparison, drifted, population in conn.execute(sql_text("ui/drift_daily.sql"), params)]
        findings = _dicts(conn.execute(sql_text("ui/open_findings.sql"), params))
        dead = _dicts(conn.execute(sql_text("ui/dead_letters.sql"), params))
        verdicts = _dicts(conn.execute(sql_text("ui/gate_verdicts.sql"), params))
        paths = [PathLatency(path, stage, float(p50), float(p95), int(n))
                 for path, stage, p50, p95, n in conn.execute(sql_text("ui/path_latency.sql"), params)]
        conn.rollback()
    return Dashboard(tenant_id, delivery, drift, findings, dead, verdicts, path_latency=paths)


def findings_detail(warehouse_url: str, tenant_id: str, finding_type: str,
                    *, limit: int = DETAIL_LIMIT) -> list[dict[str, Any]]:
    """The open findings of one tenant and type, oldest first (the drill-down)."""
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        rows = _dicts(conn.execute(sql_text("ui/findings_detail.sql"),
                                   {"tenant_id": tenant_id, "finding_type": finding_type, "limit": limit}))
        conn.rollback()
    return rows


def _dicts(cursor: Any) -> list[dict[str, Any]]:
    names = [column.name for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
