"""``python -m credsync.audit verify --url URL [--tenant T]``: check the audit hash chains.

Prints ``OK`` (exit 0) or one line per tenant naming the first broken row (exit 1).
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credsync.audit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="recompute the hash chain of audit.events")
    verify.add_argument("--url", required=True, help="libpq URL of the warehouse")
    verify.add_argument("--tenant", help="check only this tenant's chain")
    args = parser.parse_args(argv)

    from credsync.audit.chain import verify_chain
    from credsync.warehouse import connect

    with connect(args.url) as conn:
        report = verify_chain(conn, args.tenant)
    if report.ok:
        print(f"OK: {report.checked} events in {report.tenants} tenant chain(s) verified")
        return 0
    for broken in report.breaks:
        print(f"BROKEN: tenant {broken.tenant_id}: first broken row event_id={broken.event_id}: {broken.reason}")
    return 1


# Run only as `python -m credsync.audit`: Airflow's plugin loader may exec this file under the
# bare name "__main__" (when plugins/.airflowignore does not exclude the package), and must not
# start the CLI then.
if __name__ == "__main__" and __spec__ is not None and __spec__.name == "credsync.audit.__main__":
    sys.exit(main())
