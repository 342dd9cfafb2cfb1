"""Publish credential types as definitions: one CTID per type, minted once, reused on every update.

- A type in ``include/mappings/credential_rules.csv`` gets a CTID (``ce-`` + UUID) the first time
  it is seen; ``core.credential_definitions`` keeps it for good (a trigger refuses a change).
- A definition is sent only when its content differs from the last one the registry accepted,
  so reruns publish nothing; a publish whose answer was lost is resent with the same CTID, which
  the registry applies as the same update.
- A type that leaves the rules is retired, not deleted: its last definition is republished with
  ``lifeCycle:Ceased``; if it comes back it is Active again under the same CTID.
- Definitions hold no personal data: they are built from the rules alone.
- A refusal (``Successful: false``) is dead-lettered with the registry's messages; the other types
  go on. Transport failures that outlast the retries fail the task after the rest were tried.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from credsync.audit.chain import append_event
from credsync.audit.dead_letters import dead_letter
from credsync.credentials.rules import CredentialRule
from credsync.hooks.definitions import DefinitionsClient, DefinitionsRejected
from credsync.hooks.transport import ServiceError
from credsync.paths import sql_text

AUDIT_TENANT = "_definitions"  # definitions belong to the issuing organisation, not to a tenant
ACTIVE, CEASED = "lifeCycle:Active", "lifeCycle:Ceased"


@dataclass
class PublishResult:
    minted: int = 0
    published: int = 0
    unchanged: int = 0
    ceased: int = 0
    refused: int = 0
    failed: list[str] = field(default_factory=list)

    def as_counts(self) -> dict[str, Any]:
        return {"minted": self.minted, "published": self.published, "unchanged": self.unchanged,
                "ceased": self.ceased, "refused": self.refused, "failed": len(self.failed)}


class DefinitionsGateFailed(RuntimeError):
    """The GX gate refused what a run would publish: nothing was sent (the verdict names rules and types)."""


class PublishIncomplete(RuntimeError):
    """Some definitions could not be sent (registry unreachable); a rerun sends exactly those."""


def definition(rule: CredentialRule, ctid: str, subject_webpage: str, lifecycle: str = ACTIVE) -> dict[str, Any]:
    """The registry's ``Credential`` object for one type (from the rule alone: no personal data)."""
    return {
        "CTID": ctid,
        "Name": rule.achievement_name,
        "Description": rule.notes or rule.achievement_name,
        "CredentialType": "ceterms:Certification",
        "SubjectWebpage": subject_webpage.replace("{credential_type}", rule.credential_type),
        "LifeCycleStatusType": lifecycle,
        "InLanguage": ["en-US"],
        "Keyword": [rule.credential_type],
        "Renewal": f"Valid {rule.validity_days} days; renew in the {rule.renewal_window_days} days before expiry",
    }


def content_hash(credential: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(credential, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def newest_rules(rules: Iterable[CredentialRule]) -> dict[str, CredentialRule]:
    """One rule per credential type: the newest rule version."""
    chosen: dict[str, CredentialRule] = {}
    for rule in rules:
        held = chosen.get(rule.credential_type)
        if held is None or _version(rule.rule_version) > _version(held.rule_version):
            chosen[rule.credential_type] = rule
    return chosen


def publish_definitions(warehouse_url: str, client: DefinitionsClient,
                        rules: Iterable[CredentialRule]) -> PublishResult:
    from credsync.warehouse import connect

    with connect(warehouse_url) as conn:
        return _publish(conn, warehouse_url, client, rules)


def gate(conn: psycopg.Connection, warehouse_url: str, pending: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Stage what is about to be published and run the GX gate on it; raises DefinitionsGateFailed."""
    from credsync.definitions.quality import SUITE_NAME, TABLE, definition_expectations
    from credsync.quality.gate import run_gate

    batch_id = str(uuid.uuid4())
    with conn.cursor() as cur:
        cur.executemany(sql_text("definitions/stage.sql"), [
            {"tenant_id": AUDIT_TENANT, "batch_id": batch_id, "credential_type": credential_type, "ctid": ctid,
             "name": wanted.get("Name"), "description": wanted.get("Description"),
             "subject_webpage": wanted.get("SubjectWebpage"), "lifecycle": wanted.get("LifeCycleStatusType"),
             "field_names": ",".join(sorted(wanted))}
            for credential_type, ctid, wanted in pending])
    conn.commit()
    verdict = run_gate(warehouse_url, suite_name=SUITE_NAME, table=TABLE, batch_id=batch_id, tenant_id=AUDIT_TENANT,
                       expectations=definition_expectations, key_columns=("credential_type",))
    if not verdict.success:
        raise DefinitionsGateFailed(verdict.summary)


def _publish(conn: psycopg.Connection, warehouse_url: str, client: DefinitionsClient,
             rules: Iterable[CredentialRule]) -> PublishResult:
    result = PublishResult()
    by_type = newest_rules(rules)
    result.minted = _mint(conn, by_type)
    conn.commit()
    pending = []
    for credential_type, ctid, _lifecycle, published_hash, last in conn.execute(sql_text("definitions/current.sql")):
        rule = by_type.get(credential_type)
        if rule is not None:
            wanted = definition(rule, ctid, client.subject_webpage)
        elif last is not None:
            wanted = {**last, "LifeCycleStatusType": CEASED}
        else:
            continue  # left the rules before it was ever published: nothing to retire
        if content_hash(wanted) == published_hash:
            result.unchanged += 1
        else:
            pending.append((credential_type, ctid, wanted))
    if pending:
        gate(conn, warehouse_url, pending)
    for credential_type, ctid, wanted in pending:
        digest = content_hash(wanted)
        try:
            client.publish(wanted)
        except DefinitionsRejected as refused:
            dead_letter(conn, tenant_id=AUDIT_TENANT, source="definitions", entity_key=ctid,
                        reason="definition_refused", detail={"messages": refused.messages},
                        payload={"credential_type": credential_type, "definition": wanted})
            conn.commit()
            result.refused += 1
            continue
        except ServiceError as exc:
            result.failed.append(f"{credential_type} ({ctid}): {exc}")
            continue
        conn.execute(sql_text("definitions/mark_published.sql"),
                     {"credential_type": credential_type, "hash": digest, "definition": Jsonb(wanted),
                      "lifecycle": "ceased" if wanted["LifeCycleStatusType"] == CEASED else "active"})
        append_event(conn, tenant_id=AUDIT_TENANT, event_type="definition_published",
                     entity_type="credential_definition", entity_key=ctid,
                     detail={"credential_type": credential_type, "lifecycle": wanted["LifeCycleStatusType"]})
        conn.commit()
        result.published += 1
        result.ceased += wanted["LifeCycleStatusType"] == CEASED
    if result.failed:
        raise PublishIncomplete(
            f"{len(result.failed)} definition(s) not sent, the others were ({result.as_counts()}): "
            + "; ".join(result.failed) + ". Rerun the task once the registry answers (docs/runbook.md, "
            "'Credential definitions registry')")
    return result


def _mint(conn: psycopg.Connection, by_type: dict[str, CredentialRule]) -> int:
    minted = 0
    for credential_type in sorted(by_type):
        cur = conn.execute(sql_text("definitions/mint.sql"),
                           {"credential_type": credential_type, "ctid": f"ce-{uuid.uuid4()}"})
        minted += cur.rowcount
    return minted


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit()) or (0,)
