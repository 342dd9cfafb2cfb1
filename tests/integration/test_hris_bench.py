"""The HRIS benchmark at a tiny size: real sandbox, real Postgres, every input row merged, nothing left behind."""

from __future__ import annotations

import re

import pytest

from credsync.warehouse import connect
from credsync_dev.bench import hris_bench

pytestmark = pytest.mark.slow

WORKERS, DELTA = 300, 50
ROW = re.compile(r"^(?P<name>(full|delta|setup:) .+?)\s+(?P<rows>\d+)\s+(?P<wall>[\d.]+)\s+(?P<rate>\d+)"
                 r"\s+(?P<ratio>[\d.]+|-)\s+(?P<rss>[\d.]+)$")


def test_tiny_benchmark_merges_every_row_reports_positive_figures_and_drops_its_database(
        postgres_server, capsys) -> None:
    code = hris_bench.main(["--workers", str(WORKERS), "--delta", str(DELTA)])

    out = capsys.readouterr().out
    assert code == 0, out
    phases = {m["name"]: m for m in map(ROW.match, out.splitlines()) if m}
    for label, rows in (("full", WORKERS), ("delta", DELTA)):
        for step in ("extract (HTTP)", "stage (map + COPY)", "gate (GX)", "merge", "raw COPY baseline"):
            phase = phases[f"{label} {step}"]
            assert int(phase["rows"]) == rows, phase.group(0)
            assert float(phase["wall"]) > 0 and int(phase["rate"]) > 0 and float(phase["rss"]) > 0, phase.group(0)
        assert float(phases[f"{label} stage (map + COPY)"]["ratio"]) > 0
    assert f"check: full: inserted {WORKERS} = {WORKERS} workers: ok" in out
    assert f"check: delta: updated {DELTA} = {DELTA} changes, inserted 0: ok" in out
    assert "FAILED" not in out
    database = re.search(r"database (credsync_bench_\w+)", out).group(1)
    with connect(postgres_server.url) as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone() is None
