"""``python -m credsync.governance``: consent grants and withdrawals (data-flow report: credsync.dataflow).

- ``consent grant|withdraw --tenant T --employee E --purpose P --source S [--reason R]``: one ledger
  event (a withdrawal needs a reason); the next ``registry_push`` run acts on it.
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credsync.governance")
    sub = parser.add_subparsers(dest="command", required=True)
    consent = sub.add_parser("consent", help="record a consent grant or withdrawal")
    consent.add_argument("action", choices=("grant", "withdraw"))
    consent.add_argument("--tenant", required=True)
    consent.add_argument("--employee", required=True)
    consent.add_argument("--purpose", required=True)
    consent.add_argument("--source", required=True, help="where the decision was captured (hris, form, ticket)")
    consent.add_argument("--reason")
    consent.add_argument("--warehouse-url", help="libpq URL (default: Connection credsync_warehouse)")
    args = parser.parse_args(argv)
    return _consent(args)


def _consent(args: argparse.Namespace) -> int:
    from credsync.governance.consent import record
    from credsync.tenants import get_tenant
    from credsync.warehouse import connect, url_from_connection

    get_tenant(args.tenant)  # a typo in the tenant id fails here, naming the enabled tenants
    try:
        with connect(args.warehouse_url or url_from_connection()) as conn:
            event_id = record(conn, tenant_id=args.tenant, employee_id=args.employee, purpose=args.purpose,
                              action=args.action, source=args.source, reason=args.reason)
            conn.commit()
    except ValueError as exc:
        print(f"ERROR: {exc}")
        return 2
    print(f"consent {args.action} recorded for {args.tenant}/{args.employee} ({args.purpose}), event {event_id}; "
          "the next registry_push run acts on it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
