"""``python -m credsync.audit``: verify the audit hash chains against their signed checkpoints.

  verify --url URL [--tenant T] [--checkpoints STORE_URL] [--public-key JWK|FILE]
      Exit 0 and ``OK: …`` when every chain is consistent and agrees with every checkpoint;
      exit 1 with one ``BROKEN: tenant T: <finding>`` line per finding (edited, unlinked,
      rechained after edit, tail cut, truncated, checkpoint forged); exit 2 when the
      checkpoints cannot be read (store given without a public key, bad key).
      Without a checkpoint store only the chain's own consistency is checked, and a
      ``WARNING`` says so.
  checkpoint --url URL [--tenant T] [--checkpoints STORE_URL]
      Sign and write the current chain heads (key: CREDSYNC_AUDIT_CHECKPOINT_KEY or the
      connection credsync_audit_checkpoint_key).
  keygen --out FILE
      Write a new private Ed25519 JWK to FILE (mode 0600) and print its public JWK.

STORE_URL defaults to CREDSYNC_AUDIT_CHECKPOINT_STORE, else $CREDSYNC_OBJECT_STORE/audit-checkpoints;
the public key to CREDSYNC_AUDIT_CHECKPOINT_PUBLIC_KEY.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _key_text(value: str) -> str:
    """A JWK given inline as JSON or as the path of a file holding it."""
    value = value.strip()
    return value if value.startswith("{") else Path(value).read_text(encoding="utf-8")


def _verify(args: argparse.Namespace) -> int:
    from credsync.audit.chain import verify_chain
    from credsync.audit.checkpoints import CheckpointKeyError, load_checkpoints
    from credsync.audit.store import PUBLIC_KEY_ENV, open_store, store_url_from_env
    from credsync.warehouse import connect

    store_url = args.checkpoints or store_url_from_env()
    checkpoints = forged = None
    if store_url:
        public = args.public_key or os.environ.get(PUBLIC_KEY_ENV, "")
        if not public.strip():
            print(f"ERROR: checkpoints at {store_url} but no public key (--public-key or {PUBLIC_KEY_ENV})")
            return 2
        try:
            checkpoints, forged = load_checkpoints(open_store(store_url), _key_text(public), args.tenant)
        except (CheckpointKeyError, OSError) as exc:
            print(f"ERROR: cannot read checkpoints: {exc}")
            return 2
    else:
        print("WARNING: no checkpoint store configured: only each chain's own consistency is checked;"
              " rechaining, tail cuts and truncation are NOT detectable")

    with connect(args.url) as conn:
        report = verify_chain(conn, args.tenant, checkpoints=checkpoints, forged=forged or ())
    for warning in report.warnings:
        print(f"WARNING: {warning}")
    if report.ok:
        print(f"OK: {report.checked} events in {report.tenants} tenant chain(s) verified"
              + (f" against {report.checkpoints} checkpoint(s)" if checkpoints is not None else ""))
        if report.tombstoned:
            print(f"INFO: {report.tombstoned} event payload(s) are tombstones, each held against the redaction"
                  " event that removed it (credsync.audit.redact)")
        return 0
    for broken in report.breaks:
        row = f" event_id={broken.event_id}:" if broken.event_id is not None else ""
        print(f"BROKEN: tenant {broken.tenant_id}: {broken.kind}:{row} {broken.reason}")
    return 1


def _checkpoint(args: argparse.Namespace) -> int:
    from credsync.audit.checkpoints import CheckpointKeyError, write_checkpoint
    from credsync.audit.store import open_store, private_key_text, store_url_from_env
    from credsync.warehouse import connect

    store_url = args.checkpoints or store_url_from_env()
    if not store_url:
        print("ERROR: no checkpoint store (--checkpoints or CREDSYNC_AUDIT_CHECKPOINT_STORE / CREDSYNC_OBJECT_STORE)")
        return 2
    try:
        key = private_key_text()
    except CheckpointKeyError as exc:
        print(f"ERROR: {exc}")
        return 2
    store = open_store(store_url)
    with connect(args.url, autocommit=True) as conn:
        tenants = [args.tenant] if args.tenant else [
            r[0] for r in conn.execute("SELECT DISTINCT tenant_id FROM audit.events ORDER BY 1")]
        for tenant in tenants:
            written = write_checkpoint(conn, tenant, store, key)
            print(f"tenant {tenant}: " + (f"checkpoint at {written.seq} events (event_id={written.last_event_id})"
                                          if written else "no new events since the last checkpoint"))
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from credsync.audit.checkpoints import new_signing_jwk, public_jwk

    private = new_signing_jwk()
    fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(private)
    print(public_jwk(private))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credsync.audit", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="recompute the hash chains and hold them against checkpoints")
    checkpoint = commands.add_parser("checkpoint", help="sign and store the current chain heads")
    for sub in (verify, checkpoint):
        sub.add_argument("--url", required=True, help="libpq URL of the warehouse")
        sub.add_argument("--tenant", help="only this tenant's chain")
        sub.add_argument("--checkpoints", help="checkpoint store URL (ObjectStoragePath syntax)")
    verify.add_argument("--public-key", help="checkpoint public JWK: JSON text or a file path")
    keygen = commands.add_parser("keygen", help="new Ed25519 checkpoint key pair")
    keygen.add_argument("--out", required=True, help="file to create for the private JWK (mode 0600)")
    args = parser.parse_args(argv)
    return {"verify": _verify, "checkpoint": _checkpoint, "keygen": _keygen}[args.command](args)


# Run only as `python -m credsync.audit`: Airflow's plugin loader may exec this file under the
# bare name "__main__" (when plugins/.airflowignore does not exclude the package), and must not
# start the CLI then.
if __name__ == "__main__" and __spec__ is not None and __spec__.name == "credsync.audit.__main__":
    sys.exit(main())
