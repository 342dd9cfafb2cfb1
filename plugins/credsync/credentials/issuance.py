"""Rule-based credential issuance for one tenant: set-based SQL, then signing.

One transaction per tenant: revoke credentials whose evidence was voided, plan
every (worker, credential type) against the rules in SQL, supersede renewed
credentials, insert new ones, give each a random index in its issuer's revocation
status list, sign each by the tenant's did:web issuer in the tenant's securing format (``vc+jwt``, or
an embedded ``eddsa-rdfc-2022`` Data Integrity proof: ``credentials.format`` in include/tenants.yaml), log
decisions and audit events. Then, once committed, publish the issuer's DID document
and every status list whose bits changed (revocations included). Rerunning over
unchanged completions changes nothing (a credential is issued at most once per
evidence set: ``core.credentials.evidence_key``; a status index is allocated once).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from credsync.credentials import data_integrity, formats, issuer_store, status
from credsync.credentials.issuers import Issuer
from credsync.credentials.keys import SigningKey
from credsync.credentials.plan import build_plan
from credsync.credentials.rules import CredentialRule
from credsync.credentials.vc import CredentialClaims, Evidence, sign_credential
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

DECISIONS = ("issued", "renewed", "skipped_expired", "skipped_terminated", "skipped_requires_credential")


@dataclass
class IssuanceResult:
    """Counts for one tenant's run (what the DAG returns to XCom)."""

    tenant_id: str
    issued: int = 0
    renewed: int = 0
    revoked_evidence_voided: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    published: dict[str, object] | None = None

    def as_counts(self) -> dict[str, object]:
        return {
            "tenant_id": self.tenant_id,
            "issued": self.issued,
            "renewed": self.renewed,
            "revoked_evidence_voided": self.revoked_evidence_voided,
            "skipped": dict(self.skipped),
            "published": self.published,
        }


def issue_credentials(
    conn: psycopg.Connection,
    *,
    tenant_id: str,
    rules: list[CredentialRule],
    signing_key: SigningKey,
    as_of: date | None = None,
    run_id: str | None = None,
    issuer: Issuer | None = None,
    publish: bool | None = None,
    credential_format: str | None = None,
) -> IssuanceResult:
    """Evaluate ``rules`` for ``tenant_id`` as of ``as_of`` (UTC today) and commit the outcome.

    ``issuer`` defaults to the tenant's did:web issuer at ``$CREDSYNC_ISSUER_BASE_URL`` with
    ``signing_key``; ``publish`` (default: when a did-web store is configured) writes its DID
    document and changed status lists after the commit. ``credential_format`` defaults to the tenant's
    ``credentials.format`` (vc+jwt when the tenants file does not list the tenant).
    """
    from credsync.audit import AuditEvent, append_event, append_events
    from credsync.credentials.publish import did_web_root, publish_issuer
    from credsync.learning.staging import require_idle

    issuer = issuer or Issuer.for_tenant(tenant_id, signing_key)
    credential_format = credential_format or formats.tenant_format(tenant_id)
    if credential_format not in formats.FORMATS:
        raise formats.CredentialFormatConfigError(
            f"tenant {tenant_id}: credential format {credential_format!r} is not one of {', '.join(formats.FORMATS)}")
    sign = _signer(credential_format)

    require_idle(conn, "issue_credentials")
    as_of = as_of or datetime.now(UTC).date()
    # Completions up to the end of the evaluation day count.
    completed_before = datetime.combine(as_of + timedelta(days=1), time.min, tzinfo=UTC)
    params = {"tenant_id": tenant_id, "as_of": as_of, "completed_before": completed_before, "run_id": run_id}
    result = IssuanceResult(tenant_id=tenant_id)
    with conn.transaction(), conn.cursor() as cur:
        # Serialise issuance per tenant: two overlapping runs could both plan the same issue.
        cur.execute("SELECT pg_advisory_xact_lock(hashtext('credsync.issuance:' || %s))", (tenant_id,))
        _load_rules(cur, rules)
        issuer_store.register_key(cur, issuer)

        cur.execute(sql_text("credentials/revoke_voided.sql"), params)
        for revoked in cur.fetchall():
            credential_id, employee_id, credential_type, rule_id, rule_version, evidence_key, evidence = revoked
            cur.execute(
                sql_text("credentials/record_revocations.sql"),
                {
                    **params,
                    "employee_id": employee_id,
                    "credential_type": credential_type,
                    "rule_id": rule_id or "",
                    "rule_version": rule_version,
                    "evidence_key": evidence_key or "",
                    "evidence": json.dumps(evidence),
                    "credential_id": credential_id,
                },
            )
            append_event(
                conn,
                tenant_id=tenant_id,
                event_type="credential.revoked",
                entity_type="credential",
                entity_key=str(credential_id),
                detail={"reason": "evidence_voided", "employee_id": employee_id,
                        "credential_type": credential_type, "evidence_key": evidence_key},
            )
            result.revoked_evidence_voided += 1

        build_plan(cur, params)
        cur.execute(sql_text("credentials/supersede.sql"))
        cur.execute(sql_text("credentials/insert_credentials.sql"), params)
        # Count only decisions new to the log, so a rerun reports zeros.
        cur.execute(sql_text("credentials/record_decisions.sql"), params)
        counts = Counter(row[0] for row in cur.fetchall())

        rules_by_id = {rule.rule_id: rule for rule in rules}
        cur.execute(sql_text("credentials/to_sign.sql"))
        to_sign = cur.fetchall()
        slots = issuer_store.allocate(cur, issuer, [str(row[0]) for row in to_sign])
        signatures: list[dict[str, str]] = []
        events: list[AuditEvent] = []
        signed_at = datetime.now(UTC)
        for row in to_sign:
            number, index = slots[str(row[0])]
            claims = _claims(tenant_id, row, rules_by_id,
                             status.status_entry(issuer.base, "revocation", number, index))
            signatures.append({"vc_jwt": sign(claims, issuer, signed_at),
                               "credential_id": claims.credential_id, "issuer_did": issuer.did,
                               "key_id": issuer.key.key_id})
            decision = row[11]
            events.append(AuditEvent(
                event_type=f"credential.{decision}",
                entity_type="credential",
                entity_key=claims.credential_id,
                detail={
                    "employee_id": claims.employee_id,
                    "credential_type": claims.credential_type,
                    "rule_id": claims.rule_id,
                    "rule_version": claims.rule_version,
                    "issue_date": claims.issue_date.isoformat(),
                    "expiry_date": claims.expiry_date.isoformat() if claims.expiry_date else None,
                    "previous_credential_id": str(row[9]) if row[9] else None,
                    "evidence_source_ids": claims.evidence.source_ids,
                },
            ))
        # Written in bulk (pipelined statements, one chain lock) rather than a round trip per credential.
        cur.executemany(sql_text("credentials/store_signature.sql"), signatures)
        append_events(conn, tenant_id=tenant_id, events=events)
    result.issued = counts.get("issued", 0)
    result.renewed = counts.get("renewed", 0)
    result.skipped = {k: v for k, v in counts.items() if k.startswith("skipped_")}
    if publish if publish is not None else bool(did_web_root()):
        result.published = publish_issuer(conn, issuer).as_counts()
    log.info("tenant %s credential issuance: %s", tenant_id, result.as_counts())
    return result


def _signer(credential_format: str):
    """(claims, issuer, signed_at) -> the secured credential text stored in ``core.credentials.vc_jwt``."""
    if credential_format == formats.DATA_INTEGRITY:
        # One run's proofs share their options (key, created): canonicalised once (ProofConfigCache).
        cache = data_integrity.ProofConfigCache()
        return lambda claims, issuer, signed_at: data_integrity.sign_credential(
            claims, issuer, signed_at=signed_at, cache=cache)
    return lambda claims, issuer, signed_at: sign_credential(claims, issuer, signed_at=signed_at)


def _load_rules(cur: psycopg.Cursor, rules: list[CredentialRule]) -> None:
    cur.execute(sql_text("credentials/rules_temp_table.sql"))
    with cur.copy(
        "COPY credential_rules_eval (rule_id, course_codes, credential_type, achievement_name, min_score,"
        " validity_days, renewal_window_days, requires_credential, pay_impact, issuer, rule_version)"
        " FROM STDIN"
    ) as copy:
        for rule in rules:
            copy.write_row((
                rule.rule_id, list(rule.course_codes), rule.credential_type, rule.achievement_name,
                rule.min_score, rule.validity_days, rule.renewal_window_days, rule.requires_credential,
                rule.pay_impact, rule.issuer, rule.rule_version,
            ))


def _claims(tenant_id: str, row: tuple, rules_by_id: dict[str, CredentialRule],
            status_entry: dict[str, str]) -> CredentialClaims:
    (credential_id, employee_id, credential_type, achievement_name, issuer, rule_id, rule_version,
     issue_date, expiry_date, _previous, _version, _decision, met_at, items, award_id, awarded_date) = row
    scores = [item["score"] for item in items if item.get("score") is not None]
    return CredentialClaims(
        credential_id=str(credential_id),
        tenant_id=tenant_id,
        employee_id=employee_id,
        credential_type=credential_type,
        achievement_name=achievement_name,
        issuer_name=issuer,
        rule_id=rule_id,
        rule_version=rule_version,
        issue_date=issue_date,
        expiry_date=expiry_date,
        award_id=str(award_id) if award_id else None,
        awarded_date=awarded_date,
        status=status_entry,
        evidence=Evidence(
            source_ids=[item["source_id"] for item in items],
            # A set rule's score is its weakest course: that is what the min_score held against.
            score=float(min(scores)) if scores else None,
            completed_at=met_at,
            course_codes=list(rules_by_id[rule_id].course_codes) if rule_id in rules_by_id else [],
        ),
    )
