"""``make bench``: run every benchmark with its default size, one after another.

Each benchmark is also runnable alone (``python -m <module> --help``); the
figures and the commands that produced them are recorded in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

BENCHMARKS = (
    "sandbox.synth.bench",
    "credsync_dev.bench.hris_bench",
    "credsync_dev.bench.lrs_bench",
    "credsync_dev.bench.registry_bench",
    "credsync_dev.bench.recon_bench",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credsync_dev.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=BENCHMARKS, help="run just these benchmarks")
    args = parser.parse_args(argv)
    failed = []
    for module in args.only or BENCHMARKS:
        if importlib.util.find_spec(module) is None:
            print(f"== {module}: not present, skipped", flush=True)
            continue
        print(f"== {module}", flush=True)
        if subprocess.run([sys.executable, "-m", module], check=False).returncode != 0:
            failed.append(module)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
