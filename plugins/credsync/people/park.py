"""Park named records of a rejected HRIS batch so the rest of it can merge.

``python -m credsync.people.park --url URL --tenant acme --batch <batch_id> --record E000123 [--record …]
--by alice --note "INC-42: bad hire date, HR fixing"`` (or ``--all-quarantined``), then rerun the
tenant's ``hris_delta_export`` run (or trigger the DAG with the ``park_*`` params, which does both).

Parking is an on-call decision, recorded on ``audit.quarantine`` (``parked_at``, ``parked_by``,
``park_note``): the named records stay out of ``core`` and the watermark may move past them.
A record quarantined by staging is parked where it is; a staged record a gate expectation
named (``dates_sane``, ``email_format``…) moves to quarantine as rule ``parked`` with its
staged row. The next attempt of the batch (same window, same batch id) diverts exactly the
parked versions; a version fixed at the source since then loads normally. Parked records come
back through the source: fixing them there sends them with a newer ``updated_at``, and a
``full_export`` run reloads everything. Schema drift cannot be parked (fix the source or the
mapping). Plain Python, no Airflow.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from credsync.paths import sql_text
from credsync.quality.quarantine import storable_text

if TYPE_CHECKING:
    import psycopg


class ParkError(ValueError):
    """The park request names a batch or records that cannot be parked; nothing was parked."""


@dataclass(frozen=True)
class ParkRequest:
    """What an on-call asks to park (also the shape of the DAG's ``park_*`` params)."""

    tenant_id: str
    batch_id: str
    record_keys: tuple[str, ...] = ()
    all_quarantined: bool = False
    parked_by: str = "on-call"
    note: str | None = None


@dataclass(frozen=True)
class ParkResult:
    batch_id: str
    tenant_id: str
    parked: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "tenant_id": self.tenant_id, "parked": list(self.parked)}


def park_records(conn: psycopg.Connection, *, request: ParkRequest) -> ParkResult:
    """Park the requested records of one not-yet-merged HRIS batch, in one transaction.

    Raises :class:`ParkError` (and parks nothing) when the batch is not the
    tenant's open HRIS batch, or when a named key is neither quarantined nor
    staged in it (a typo must not silently park nothing).
    """
    tenant_id = request.tenant_id
    row = conn.execute(
        "SELECT tenant_id, source, stream, status FROM audit.batches WHERE batch_id::text = %s FOR UPDATE",
        (request.batch_id,),
    ).fetchone()
    if row is None or row[0] != tenant_id or row[1:3] != ("hris", "workers"):
        conn.rollback()
        raise ParkError(f"batch {request.batch_id} is not an HRIS worker batch of tenant {tenant_id}")
    if row[3] == "merged":
        # A cleared task of a run that already parked and merged repeats the request: fine if it
        # asks for nothing new; anything else is too late for this batch.
        done = {k for (k,) in conn.execute(
            "SELECT DISTINCT record_key FROM audit.quarantine WHERE batch_id = %s AND parked_at IS NOT NULL",
            (request.batch_id,))}
        conn.rollback()
        wanted = {k.strip() for k in request.record_keys if k and k.strip()}
        if wanted <= done and (wanted or request.all_quarantined):
            return ParkResult(request.batch_id, tenant_id, tuple(sorted(wanted)))
        raise ParkError(f"batch {request.batch_id} of tenant {tenant_id} is already merged: nothing to park")
    if not request.record_keys and not request.all_quarantined:
        conn.rollback()
        raise ParkError("name the records to park (--record KEY …) or pass --all-quarantined")
    keys = list(dict.fromkeys(storable_text(k.strip()) for k in request.record_keys if k and k.strip()))
    if request.all_quarantined:
        keys += [k for (k,) in conn.execute(
            "SELECT DISTINCT record_key FROM audit.quarantine WHERE batch_id = %s AND parked_at IS NULL"
            " AND record_key IS NOT NULL", (request.batch_id,)) if k not in keys]
    params = {"batch_id": request.batch_id, "record_keys": keys, "parked_by": request.parked_by,
              "note": request.note}
    parked = {k for (k,) in conn.execute(sql_text("people/park_quarantined.sql"), params)}
    parked |= {k for (k,) in conn.execute(sql_text("people/park_staged.sql"), params)}
    already = {k for (k,) in conn.execute(
        "SELECT DISTINCT record_key FROM audit.quarantine WHERE batch_id = %s AND parked_at IS NOT NULL"
        " AND record_key = ANY(%s)", (request.batch_id, keys))}
    unknown = [k for k in keys if k not in parked and k not in already]
    if unknown:
        conn.rollback()
        raise ParkError(f"batch {request.batch_id} of tenant {tenant_id} has no record "
                        f"{', '.join(unknown)} (neither quarantined nor staged): nothing parked")
    conn.commit()
    return ParkResult(request.batch_id, tenant_id, tuple(k for k in keys if k in parked | already))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m credsync.people.park", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="warehouse URL (postgresql://…)")
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--batch", required=True, help="the rejected batch id (task log / audit.batches)")
    parser.add_argument("--record", action="append", default=[], help="a record key to park (repeat)")
    parser.add_argument("--all-quarantined", action="store_true",
                        help="park every record staging quarantined in the batch")
    parser.add_argument("--by", required=True, help="who decided (kept on the quarantine rows)")
    parser.add_argument("--note", help="why, e.g. the incident or ticket")
    args = parser.parse_args(argv)
    from credsync.warehouse import connect

    request = ParkRequest(args.tenant, args.batch, tuple(args.record), args.all_quarantined, args.by, args.note)
    with connect(args.url) as conn:
        try:
            result = park_records(conn, request=request)
        except ParkError as exc:
            print(f"NOT PARKED: {exc}", file=sys.stderr)
            return 1
    print(f"parked {len(result.parked)} record(s) of batch {result.batch_id} (tenant {result.tenant_id}): "
          f"{', '.join(result.parked)}; rerun the tenant's hris_delta_export to merge the rest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
