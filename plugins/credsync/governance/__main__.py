"""``python -m credsync.governance dataflow``: the data-flow report (markdown) from the mappings and Connections."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credsync.governance")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dataflow", help="which fields leave to which system in which region, per tenant")
    parser.parse_args(argv)
    from credsync.governance.dataflow import connection_region, flows, markdown

    report = flows(connection_region)
    print(markdown(report))
    refused = [f for f in report if not f.allowed]
    if refused:
        print(f"\n{len(refused)} flow(s) the tenants' residency policies refuse: those systems get nothing.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
