"""Benchmark the synthetic generators: wall time, rate and peak memory.

Run: ``python -m sandbox.synth.bench --workers 1000000 [--statements-workers 100000] [--csv]``.
Rows stream to a sink (or a CSV in a temporary file with ``--csv``), so the peak
RSS shows whether the generators stay flat.
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any

from sandbox.synth.learning import iter_statements
from sandbox.synth.workforce import iter_workers


def _peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux (bytes on macOS, where this reads 1024x too high).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in record.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _measure(label: str, rows: Iterable[dict[str, Any]], sink: Callable[[dict[str, Any]], None]) -> None:
    start = time.perf_counter()
    count = 0
    for row in rows:
        sink(row)
        count += 1
    elapsed = time.perf_counter() - start
    print(
        f"{label}: {count} rows in {elapsed:.1f} s = {count / elapsed if elapsed else 0:,.0f} rows/s; "
        f"peak RSS so far {_peak_rss_mib():.1f} MiB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", default="acme")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workers", type=int, default=100_000, help="workers to generate")
    parser.add_argument("--statements-workers", type=int, default=0, help="also generate xAPI statements for N workers")
    parser.add_argument("--csv", action="store_true", help="write workers as flattened CSV to a temp file")
    args = parser.parse_args(argv)

    print(f"python {sys.version.split()[0]}; start peak RSS {_peak_rss_mib():.1f} MiB")
    with tempfile.TemporaryFile("w+", newline="") as handle:
        sink: Callable[[dict[str, Any]], None] = lambda row: None  # noqa: E731 - the null sink
        if args.csv:
            writer: csv.DictWriter | None = None

            def sink(row: dict[str, Any]) -> None:
                nonlocal writer
                flat = _flatten(row)
                if writer is None:
                    writer = csv.DictWriter(handle, fieldnames=list(flat))
                    writer.writeheader()
                writer.writerow(flat)

        _measure(f"workers ({'csv' if args.csv else 'null sink'})",
                 iter_workers(args.tenant, args.workers, args.seed), sink)
        if args.csv:
            print(f"csv size {handle.tell() / 2**20:.1f} MiB")
    if args.statements_workers:
        _measure("xAPI statements (null sink)",
                 iter_statements(args.tenant, args.statements_workers, args.seed), lambda row: None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
