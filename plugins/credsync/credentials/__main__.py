"""``python -m credsync.credentials``: verify credentials as a third party; publish and rotate issuer keys.

  verify [TOKEN | FILE | -] [--files DIR] [--trust-list PATH] [--no-status] [--json] [--at ISO]
      Each credential (argument, file, or stdin): vc+jwt tokens separated by whitespace, or Data Integrity
      (eddsa-rdfc-2022) JSON credentials, one after another or in a JSON array. Trust list, did:web DID document and
      key (retired keys only for credentials signed before retirement), signature, 1EdTech OB 3.0 schema,
      validity window, Bitstring Status List. ``--files DIR`` resolves from a copy of the published did-web
      folder instead of over HTTP(S) (fully offline). Prints ``VALID <id> <issuer>`` or
      ``INVALID <id>: <reason>; …`` per credential; exit 0 when all are valid, 1 otherwise.
  verify --warehouse URL [--tenant T] [--status active|revoked|all] [...]
      The same for the credentials stored in core.credentials; prints one line per invalid one and totals.
  publish --warehouse URL --tenant T
      Rewrite the tenant issuer's DID document and every changed status list (signing key: connection
      credsync_signing_key or AIRFLOW_CONN_CREDSYNC_SIGNING_KEY).
  retire-key --warehouse URL --tenant T --key-id KEY [--on ISO] --reason TEXT
      Retire a key (default: now; only ever earlier), audit it, and republish the DID document. Refused
      for the key the connection still holds: rotate first.

The trust list defaults to include/credentials/trust_list.yaml (or $CREDSYNC_TRUST_LIST); issuer DIDs
to $CREDSYNC_ISSUER_BASE_URL.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path


def _tokens(source: str | None) -> list[str | dict]:
    if source in (None, "-"):
        text = sys.stdin.read()
    elif source.count(".") == 2 and source.startswith("ey"):
        return [source]
    else:
        text = Path(source).read_text(encoding="utf-8")
    return _json_credentials(text) if text.lstrip()[:1] in ("{", "[") else text.split()


def _json_credentials(text: str) -> list[str | dict]:
    """Data Integrity credentials: JSON objects one after another (pretty-printed or JSON lines), or an array."""
    decoder, found, rest = json.JSONDecoder(), [], text.lstrip()
    while rest:
        try:
            value, end = decoder.raw_decode(rest)
        except json.JSONDecodeError:
            # Unreadable JSON is reported like any other invalid credential (verify says why), not a crash.
            found.append(rest)
            break
        found.extend(value if isinstance(value, list) else [value])
        rest = rest[end:].lstrip()
    return found


def _verify(args: argparse.Namespace) -> int:
    from credsync.credentials.issuers import load_trust_list
    from credsync.credentials.verify import FileResolver, Resolver, verify

    trusted = load_trust_list(Path(args.trust_list) if args.trust_list else None)
    resolver = FileResolver(Path(args.files)) if args.files else Resolver()
    moment = datetime.fromisoformat(args.at) if args.at else None
    if args.warehouse:
        from credsync.warehouse import connect

        statuses = {"active": ["active"], "revoked": ["revoked"], "all": ["active", "revoked", "expired"]}
        with connect(args.warehouse) as conn:
            rows = conn.execute(
                "SELECT credential_id::text, vc_jwt FROM core.credentials WHERE vc_jwt IS NOT NULL"
                " AND status = ANY(%s) AND (%s::text IS NULL OR tenant_id = %s) ORDER BY tenant_id, credential_id",
                (statuses[args.status], args.tenant, args.tenant)).fetchall()
    else:
        rows = [(None, token) for token in _tokens(args.source)]
    invalid = 0
    for row_id, token in rows:
        verdict = verify(token, trusted=trusted, resolver=resolver, now=moment, check_status=not args.no_status)
        invalid += not verdict.valid
        if args.json:
            print(json.dumps({**verdict.as_json(), "row": row_id}))
        elif not verdict.valid:
            print(f"INVALID {verdict.credential_id or row_id or '?'}: {'; '.join(verdict.reasons)}")
        elif not args.warehouse:
            print(f"VALID {verdict.credential_id} {verdict.issuer}")
    if args.warehouse or len(rows) != 1:
        print(f"{len(rows) - invalid} valid, {invalid} invalid of {len(rows)}")
    return 0 if rows and not invalid else 1


def _issuer(tenant: str):
    from credsync.credentials.issuers import Issuer
    from credsync.credentials.keys import signing_key_from_connection

    return Issuer.for_tenant(tenant, signing_key_from_connection())


def _publish_with_current_key(conn, tenant: str) -> dict[str, object]:
    """Register the connection's key (as issuance would) and publish: lists are signed with it."""
    from credsync.credentials.issuer_store import register_key
    from credsync.credentials.publish import publish_issuer

    issuer = _issuer(tenant)
    with conn.cursor() as cur:
        register_key(cur, issuer)
    conn.commit()
    return publish_issuer(conn, issuer).as_counts()


def _publish(args: argparse.Namespace) -> int:
    from credsync.credentials.keys import SigningKeyError
    from credsync.warehouse import connect

    with connect(args.warehouse) as conn:
        try:
            print(json.dumps(_publish_with_current_key(conn, args.tenant)))
        except SigningKeyError as exc:
            print(f"ERROR: {exc}")
            return 2
    return 0


def _retire(args: argparse.Namespace) -> int:
    from credsync.audit import append_event
    from credsync.credentials.issuer_store import retire_key
    from credsync.credentials.issuers import tenant_issuer_did
    from credsync.warehouse import connect

    on = datetime.fromisoformat(args.on) if args.on else datetime.now(UTC)
    if on.tzinfo is None:
        print("ERROR: --on needs a time zone (e.g. 2026-03-01T00:00:00+00:00)")
        return 2
    if _issuer(args.tenant).key.key_id == args.key_id:
        # Status lists are signed with the connection's key: a retired one would make them unverifiable.
        print(f"ERROR: {args.key_id} is still the key in the signing key connection: rotate first"
              " (docs/runbook.md, Credential keys and status lists)")
        return 2
    did = tenant_issuer_did(args.tenant)
    with connect(args.warehouse) as conn:
        with conn.cursor() as cur:
            changed = retire_key(cur, did, args.key_id, on, args.reason)
        if changed:
            append_event(conn, tenant_id=args.tenant, event_type="issuer.key_retired", entity_type="issuer_key",
                         entity_key=f"{did}#{args.key_id}",
                         detail={"retired_at": on.isoformat(), "reason": args.reason})
        conn.commit()
        if not changed:
            print(f"unchanged: {did}#{args.key_id} is unknown or already retired on or before {on.isoformat()}")
            return 1
        print(json.dumps(_publish_with_current_key(conn, args.tenant)))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credsync.credentials", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="verify credentials as a relying party would")
    check.add_argument("source", nargs="?",
                       help="a vc+jwt, a file of vc+jwt or Data Integrity (JSON) credentials, or - for stdin")
    check.add_argument("--files", help="a copy of the published did-web folder (offline resolution)")
    check.add_argument("--trust-list")
    check.add_argument("--no-status", action="store_true")
    check.add_argument("--json", action="store_true")
    check.add_argument("--at", help="verify as of this ISO time (default: now)")
    check.add_argument("--warehouse", help="verify the stored credentials of this warehouse URL")
    check.add_argument("--tenant")
    check.add_argument("--status", choices=("active", "revoked", "all"), default="active")
    check.set_defaults(run=_verify)
    pub = commands.add_parser("publish", help="republish an issuer's DID document and status lists")
    pub.add_argument("--warehouse", required=True)
    pub.add_argument("--tenant", required=True)
    pub.set_defaults(run=_publish)
    retire = commands.add_parser("retire-key", help="retire an issuer key and republish")
    retire.add_argument("--warehouse", required=True)
    retire.add_argument("--tenant", required=True)
    retire.add_argument("--key-id", required=True)
    retire.add_argument("--on")
    retire.add_argument("--reason", required=True)
    retire.set_defaults(run=_retire)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
