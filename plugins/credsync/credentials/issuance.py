"""Rule-based credential issuance for one tenant: set-based SQL, then signing.

One transaction per tenant: revoke credentials whose evidence was voided, plan
every (worker, credential type) against the rules in SQL, supersede renewed
credentials, insert new ones, sign each as a VC-JWT, log decisions and audit
events. Rerunning over unchanged completions changes nothing (a credential is
issued at most once per evidence set: ``core.credentials.evidence_key``).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

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

    def as_counts(self) -> dict[str, object]:
        return {
            "tenant_id": self.tenant_id,
            "issued": self.issued,
            "renewed": self.renewed,
            "revoked_evidence_voided": self.revoked_evidence_voided,
            "skipped": dict(self.skipped),
        }


def issue_credentials(
    conn: psycopg.Connection,
    *,
    tenant_id: str,
    rules: list[CredentialRule],
    signing_key: SigningKey,
    as_of: date | None = None,
    run_id: str | None = None,
) -> IssuanceResult:
    """Evaluate ``rules`` for ``tenant_id`` as of ``as_of`` (UTC today) and commit the outcome."""
    from credsync.audit import AuditEvent, append_event, append_events
    from credsync.learning.staging import require_idle

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
        signatures: list[dict[str, str]] = []
        events: list[AuditEvent] = []
        for row in cur.fetchall():
            claims = _claims(tenant_id, row, rules_by_id)
            signatures.append({"vc_jwt": sign_credential(claims, signing_key), "credential_id": claims.credential_id})
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
    log.info("tenant %s credential issuance: %s", tenant_id, result.as_counts())
    return result


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


def _claims(tenant_id: str, row: tuple, rules_by_id: dict[str, CredentialRule]) -> CredentialClaims:
    (credential_id, employee_id, credential_type, achievement_name, issuer, rule_id, rule_version,
     issue_date, expiry_date, _previous, _version, _decision, met_at, items) = row
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
        evidence=Evidence(
            source_ids=[item["source_id"] for item in items],
            # A set rule's score is its weakest course: that is what the min_score held against.
            score=float(min(scores)) if scores else None,
            completed_at=met_at,
            course_codes=list(rules_by_id[rule_id].course_codes) if rule_id in rules_by_id else [],
        ),
    )
