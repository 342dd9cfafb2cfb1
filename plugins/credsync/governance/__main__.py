"""``python -m credsync.governance``: consent grants and withdrawals (data-flow report: credsync.dataflow).

- ``consent grant|withdraw --tenant T --employee E --purpose P --source S [--reason R]``: one ledger
  event (a withdrawal needs a reason); the next ``registry_push`` run acts on it.
- ``reidentify --tenant T --pseudonym P --approver A --reason R``: the original behind a pseudonym, for
  an approver the tenant lists (``erasure.reidentify_approvers``); audited, refused otherwise (exit 3).
- ``erase --tenant T --request-id R [--employee E] [--mode erase|pseudonymise]``: one erasure request
  now (what the ``erasure`` DAG runs), printing its report.
"""

from __future__ import annotations

import argparse
import json


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
    reid = sub.add_parser("reidentify", help="the audited way back from a pseudonym")
    reid.add_argument("--tenant", required=True)
    reid.add_argument("--pseudonym", required=True)
    reid.add_argument("--approver", required=True, help="your name as the tenant lists it")
    reid.add_argument("--reason", required=True, help="the request, ticket or legal ground")
    reid.add_argument("--warehouse-url", help="libpq URL (default: Connection credsync_warehouse)")
    erase = sub.add_parser("erase", help="carry out one erasure request now")
    erase.add_argument("--tenant", required=True)
    erase.add_argument("--request-id", required=True, help="the ticket; a rerun with it does nothing more")
    erase.add_argument("--employee", help="the worker (omit to rerun a recorded request)")
    erase.add_argument("--mode", choices=("erase", "pseudonymise"), help="override the tenant's policy")
    erase.add_argument("--warehouse-url", help="libpq URL (default: Connection credsync_warehouse)")
    args = parser.parse_args(argv)
    if args.command == "reidentify":
        return _reidentify(args)
    if args.command == "erase":
        return _erase(args)
    return _consent(args)


def _reidentify(args: argparse.Namespace) -> int:
    from credsync.governance.pseudonymise import ReidentificationRefused, reidentify
    from credsync.warehouse import connect, url_from_connection

    with connect(args.warehouse_url or url_from_connection()) as conn:
        try:
            found = reidentify(conn, args.tenant, args.pseudonym, approver=args.approver, reason=args.reason)
        except ReidentificationRefused as exc:
            conn.commit()  # the refusal is on the audit chain too
            print(f"REFUSED: {exc}")
            return 3
        conn.commit()
    # Shown to the approver only: never logged (this is the one place an original leaves the vault).
    print(json.dumps({"tenant_id": found.tenant_id, "pseudonym": found.pseudonym, "kind": found.kind,
                      "original": found.original, "basis": found.basis, "approver": found.approver}))
    return 0


def _erase(args: argparse.Namespace) -> int:
    from credsync.governance.erasure import ErasureError
    from credsync.governance.erasure_flow import run_request
    from credsync.tenants import get_tenant
    from credsync.warehouse import url_from_connection

    get_tenant(args.tenant)
    request = {"tenant_id": args.tenant, "request_id": f"manual:{args.request_id}", "employee_id": args.employee,
               "source": "manual", "event_id": None, "mode": args.mode}
    try:
        report = run_request(args.warehouse_url or url_from_connection(), request)
    except ErasureError as exc:
        print(f"ERROR: {exc}")
        return 2
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


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
