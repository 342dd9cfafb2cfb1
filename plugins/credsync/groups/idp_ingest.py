"""IdP groups and role claims → staging → GX gate → core.idp_claims (the shape HRIS and LMS use).

:func:`extract_and_stage` lists the IdP (every user with its role claims, every group with its
users: :class:`credsync.hooks.idp.IdpClient`) into one ``audit.batches`` batch (source ``idp``,
stream ``claims``) of ``staging.idp_claims``, one row per (user, claim). A claim that cannot be
used is quarantined with its rule (``audit.quarantine``): a user without ``employeeNumber`` (the
HRIS key: an IdP user is never matched by email), an empty group name or role.

:func:`gate` runs the Great Expectations suite ``idp_claims`` and, before it, a check on the
batch as a whole: a listing that would drop more than ``max_claim_drop_share`` of the claims core
holds is refused (an IdP answering an empty or partial directory would otherwise strip every
LMS group; unblock as docs/runbook.md says). :func:`merge` replaces the tenant's claims with the
validated batch, writing only what changed. Plain functions over a warehouse URL (no Airflow).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from credsync.ingest.batches import StagedBatch, open_batch
from credsync.ingest.gate import BatchGate, BatchNotValidated, gate_batch
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

    from credsync.hooks.idp import IdpClient

log = logging.getLogger(__name__)

SOURCE, STREAM = "idp", "claims"
MAPPING_VERSION = "okta_groups_api_v1"
SUITE_NAME = "idp_claims"
STAGING_TABLE = "staging.idp_claims"
CLAIM_KINDS = ("group", "role")
#: A listing may drop at most this share of the claims core holds (once core holds MIN_CLAIMS).
MAX_CLAIM_DROP_SHARE = 0.5
MIN_CLAIMS = 20


@dataclass(frozen=True)
class Claim:
    idp_user_id: str
    employee_id: str | None
    user_status: str | None
    claim_kind: str
    claim_value: str | None


def iter_claims(idp: IdpClient) -> Iterator[Claim]:
    """Every role claim (``profile.roles`` of each user) and group membership the IdP lists."""
    for user in idp.users():
        profile = user.get("profile") or {}
        for role in profile.get("roles") or []:
            yield _claim(user, "role", role)
    for group in idp.groups():
        name = (group.get("profile") or {}).get("name")
        for user in idp.group_users(str(group["id"])):
            yield _claim(user, "group", name)


def _claim(user: dict[str, Any], kind: str, value: Any) -> Claim:
    profile = user.get("profile") or {}
    employee = str(profile.get("employeeNumber") or "").strip() or None
    text = str(value).strip() if value is not None else ""
    return Claim(str(user.get("id")), employee, user.get("status"), kind, text or None)


def _problem(claim: Claim) -> tuple[str, str] | None:
    if claim.employee_id is None:
        return ("employee_number_missing",
                f"IdP user {claim.idp_user_id} has no profile.employeeNumber: it cannot be matched to a worker")
    if claim.claim_value is None:
        return (f"{claim.claim_kind}_empty", f"IdP user {claim.idp_user_id}: a {claim.claim_kind} claim without a name")
    return None


def extract_and_stage(warehouse_url: str, *, tenant_id: str, idp: IdpClient,
                      dag_run_id: str | None = None) -> dict[str, Any]:
    """List the IdP into a new staged batch; returns its counts (XCom)."""
    from credsync.quality.quarantine import record_json
    from credsync.warehouse import connect

    claims = list(iter_claims(idp))  # listed before the transaction: no warehouse lock held over HTTP
    with connect(warehouse_url) as conn, conn.transaction():
        attempt = open_batch(conn, tenant_id=tenant_id, source=SOURCE, stream=STREAM,
                             mapping_version=MAPPING_VERSION, dag_run_id=dag_run_id)
        staged, quarantined = [], []
        for number, claim in enumerate(claims, start=1):
            problem = _problem(claim)
            if problem is None:
                staged.append((attempt.batch_id, tenant_id, number, claim.idp_user_id, claim.employee_id,
                               claim.user_status, claim.claim_kind, claim.claim_value))
            else:
                quarantined.append((attempt.batch_id, tenant_id, claim.idp_user_id, problem[0], problem[1],
                                    record_json(claim.__dict__)))
        with conn.cursor() as cur:
            with cur.copy("COPY staging.idp_claims (batch_id, tenant_id, row_number, idp_user_id, employee_id, "
                          "user_status, claim_kind, claim_value) FROM STDIN") as copy:
                for row in staged:
                    copy.write_row(row)
            cur.executemany("INSERT INTO audit.quarantine (batch_id, tenant_id, record_key, rule, reason, record) "
                            "VALUES (%s, %s, %s, %s, %s, %s)", quarantined)
        conn.execute(sql_text("people/finish_staging.sql"), {
            "batch_id": attempt.batch_id, "records_in": len(claims), "records_loaded": len(staged),
            "records_quarantined": len(quarantined), "schema_drift": None})
    batch = StagedBatch(attempt.batch_id, tenant_id, len(claims), len(staged), len(quarantined),
                        mapping_version=MAPPING_VERSION)
    log.info("tenant %s: staged IdP batch %s: %d claims in, %d staged, %d quarantined", tenant_id, batch.batch_id,
             batch.records_in, batch.records_loaded, batch.records_quarantined)
    return batch.as_counts()


def claim_expectations() -> list[Any]:
    import great_expectations as gx

    ex = gx.expectations
    return [
        ex.ExpectColumnValuesToNotBeNull(column="employee_id", meta={"rule": "required_employee_id"}),
        ex.ExpectColumnValuesToNotBeNull(column="claim_value", meta={"rule": "required_claim_value"}),
        ex.ExpectColumnValuesToBeInSet(column="claim_kind", value_set=list(CLAIM_KINDS),
                                       meta={"rule": "claim_kind_allowed"}),
        ex.ExpectColumnValueLengthsToBeBetween(column="claim_value", min_value=1, max_value=200,
                                               meta={"rule": "claim_value_length"}),
    ]


def batch_checks(conn: psycopg.Connection, tenant_id: str, batch_id: str) -> tuple[list[str], dict[str, Any]]:
    """Refuse a listing that would drop most of the tenant's claims (an IdP outage that answers 200)."""
    staged, held, quarantined = conn.execute(sql_text("groups/gate_claim_counts.sql"),
                                             {"tenant_id": tenant_id, "batch_id": batch_id}).fetchone()
    dropped = max(0, held - staged)
    share = dropped / held if held else 0.0
    details = {"staged": staged, "held": held, "quarantined": quarantined, "drop_share": round(share, 4),
               "max_claim_drop_share": MAX_CLAIM_DROP_SHARE}
    failures = []
    if held >= MIN_CLAIMS and share > MAX_CLAIM_DROP_SHARE:
        failures.append(f"claim_drop: the IdP lists {staged} claims where core holds {held} ({share:.0%} would go, "
                        f"more than {MAX_CLAIM_DROP_SHARE:.0%}); check the IdP, then see docs/runbook.md "
                        "'Group push'")
    if staged == 0 and quarantined:
        failures.append(f"quarantine_share: all {quarantined} claims of the batch are quarantined; nothing would "
                        "load and every IdP claim of the tenant would go (see audit.quarantine for the rules)")
    return failures, details


def idp_gate() -> BatchGate:
    return BatchGate(suite_name=SUITE_NAME, table=STAGING_TABLE, sql_dir="groups", expectations=claim_expectations,
                     batch_checks=batch_checks)


def gate(warehouse_url: str, staged: dict[str, Any]) -> dict[str, Any]:
    """The GX gate on the staged batch; raises :class:`credsync.ingest.gate.BatchRejected` when blocked."""
    result = gate_batch(warehouse_url, idp_gate(), tenant_id=staged["tenant_id"], batch_id=staged["batch_id"])
    return {**staged, "gate": "passed", "data_docs_url": result.data_docs_url}


def merge(warehouse_url: str, gated: dict[str, Any]) -> dict[str, Any]:
    """Replace core.idp_claims with the validated batch and mark it merged, in one transaction."""
    from credsync.warehouse import connect

    params = {"tenant_id": gated["tenant_id"], "batch_id": gated["batch_id"]}
    with connect(warehouse_url) as conn, conn.transaction():
        status = conn.execute("SELECT status FROM audit.batches WHERE batch_id = %(batch_id)s "
                              "AND tenant_id = %(tenant_id)s FOR UPDATE", params).fetchone()
        if status is None or status[0] != "validated":
            raise BatchNotValidated(f"IdP batch {gated['batch_id']} of tenant {gated['tenant_id']} is "
                                    f"{status[0] if status else 'missing'}, not validated: not merged")
        inserted, deleted = conn.execute(sql_text("groups/merge_idp_claims.sql"), params).fetchone()
        conn.execute(sql_text("people/mark_merged.sql"), params)
    return {"tenant_id": gated["tenant_id"], "batch_id": gated["batch_id"], "records_in": gated["records_in"],
            "loaded": gated["loaded"], "quarantined": gated["quarantined"], "inserted": inserted,
            "deleted": deleted, "changed": bool(inserted or deleted)}
