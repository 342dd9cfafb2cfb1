"""Forward a tenant's learning records to the national LRS: build, check, record, gate, send once.

- **Build** (credsync.national.statements) from core; a learner whose personal fields the outgoing
  mapping refuses (an invalid national id, a hostile name) is dead-lettered with that rule.
- **Check** each statement not yet in the ledger against NELC's checklist (credsync.national.checklist)
  with the ledger as history; a violation is recorded ``dead`` with the rule and dead-lettered
  (source ``national_lrs``, reason = the rule): refused, never sent. Reruns check only new ids.
- **Record** each checked statement in the delivery ledger ``core.national_lrs_statements`` (the registry submissions'
  forward-only states: pending -> sent -> acknowledged | dead), keyed by its statement id.
- **Gate** what would be sent (open and newly checked statements) with GX (suite
  ``national_lrs_statements``) before anything new is recorded or sent: a refused batch records nothing.
- **Send** in chunks: a chunk is marked ``sent`` and committed before its request leaves, and its
  answer is recorded after. A lost answer (reset, crash) leaves ``sent`` rows that the next try
  resends under the same ids; the LRS stores an id once, so each statement lands exactly once.
  A 400 on a chunk is isolated statement by statement; a statement the LRS refuses (400, naming
  the rule) or holds with other content (409) is dead-lettered with that reason.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

from credsync.audit.chain import append_event
from credsync.audit.dead_letters import dead_letter
from credsync.hooks.national_lrs import NationalLrsClient, PostOutcome
from credsync.hooks.transport import ServiceUnavailable
from credsync.national.checklist import History, content_hash, facts
from credsync.national_profile import NationalProfile
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

DEAD_LETTER_SOURCE = "national_lrs"
_LOCK_CLASS = 0x6E656C63  # "nelc": one forward per tenant at a time
FaultHook = Callable[[str, int], None]


class NationalGateFailed(RuntimeError):
    """The GX gate refused the outgoing batch: nothing was sent (the verdict names rules and statements)."""


class ForwardIncomplete(RuntimeError):
    """The national LRS stayed unavailable; what was not acknowledged is resent by the next try."""


@dataclass
class ForwardResult:
    tenant_id: str
    built: int = 0
    recorded: int = 0
    refused: int = 0
    learners_refused: int = 0
    sent: int = 0
    acknowledged: int = 0
    dead: int = 0
    remaining: int = 0
    requests: int = 0

    def as_counts(self) -> dict[str, Any]:
        return asdict(self)


def build_statements(conn: psycopg.Connection, tenant_id: str, profile: NationalProfile,
                     rules: list[Any]) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    from psycopg.rows import dict_row

    from credsync.national.statements import build

    with conn.cursor(row_factory=dict_row) as cur:
        completions = cur.execute(sql_text("national/completions.sql"), {"tenant_id": tenant_id}).fetchall()
        credentials = cur.execute(sql_text("national/credentials.sql"), {"tenant_id": tenant_id}).fetchall()
    built = build(tenant_id, profile, completions, credentials, rules)
    return built.statements, built.refused_learners


def forward(warehouse_url: str, tenant_id: str, profile: NationalProfile, client: NationalLrsClient, *,
            statements: list[dict[str, Any]] | None = None, rules: list[Any] | None = None,
            batch_size: int = 50, deadline: float | None = None, gate: bool = True,
            fault_hook: FaultHook | None = None) -> ForwardResult:
    """Build (unless ``statements`` are given), check, record, gate and send ``tenant_id``'s statements."""
    from credsync.credentials.rules import load_rules
    from credsync.national.statements import template_ids
    from credsync.warehouse import connect

    rules = rules if rules is not None else load_rules()
    result = ForwardResult(tenant_id)
    with connect(warehouse_url) as conn:
        conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (_LOCK_CLASS, tenant_id))
        conn.commit()
        if statements is None:
            statements, refused_learners = build_statements(conn, tenant_id, profile, rules)
            result.learners_refused = _refuse_learners(conn, tenant_id, refused_learners)
        result.built = len(statements)
        history = History.of(profile.platform,
                             [r[0] for r in conn.execute(sql_text("national/accepted.sql"), {"tenant_id": tenant_id})],
                             templates=template_ids(profile, rules))
        known = {str(r[0]) for r in conn.execute(
            "SELECT statement_id FROM core.national_lrs_statements WHERE tenant_id = %s", (tenant_id,))}
        checked: list[tuple[dict[str, Any], list[Any]]] = []
        for statement in statements:
            if str(statement.get("id")) in known:
                continue  # recorded before: what was checked (and maybe sent) stays as it was
            known.add(str(statement.get("id")))
            checked.append((statement, history.admit(statement)))
        open_rows = [row[1] for row in conn.execute(sql_text("national/open.sql"), {"tenant_id": tenant_id})]
        conn.commit()
        outgoing = open_rows + [s for s, violations in checked if not violations]
        if outgoing and gate:
            # Gated before the new statements are recorded: a refused batch leaves them unrecorded, so the
            # rerun after the fix builds and checks them again instead of finding stale rows.
            _gate(conn, warehouse_url, tenant_id, outgoing)
        for statement, violations in checked:
            _record(conn, tenant_id, statement, violations[0].rule if violations else None)
            result.recorded += 1
            if violations:
                result.refused += 1
                dead_letter(conn, tenant_id=tenant_id, source=DEAD_LETTER_SOURCE, entity_key=str(statement["id"]),
                            reason=violations[0].rule, detail={"violations": [v.as_dict() for v in violations]},
                            payload={"statement": statement})
        conn.commit()
        work = conn.execute(sql_text("national/open.sql"), {"tenant_id": tenant_id}).fetchall()
        conn.commit()
        sender = _Sender(conn, tenant_id, client, result, fault_hook)
        try:
            for start in range(0, len(work), batch_size):
                if deadline is not None and time.monotonic() >= deadline:
                    break
                sender.chunk([row[1] for row in work[start:start + batch_size]])
        finally:
            result.remaining = len(conn.execute(sql_text("national/open.sql"), {"tenant_id": tenant_id}).fetchall())
            conn.commit()
    return result


def _refuse_learners(conn: psycopg.Connection, tenant_id: str, refused: list[tuple[str, str, str]]) -> int:
    for employee_id, rule, error in refused:
        seen = conn.execute("SELECT 1 FROM audit.dead_letters WHERE tenant_id = %s AND source = %s AND entity_key = %s"
                            " AND reason = %s AND status = 'open'",
                            (tenant_id, DEAD_LETTER_SOURCE, f"learner:{employee_id}", rule)).fetchone()
        if seen is None:  # once per learner and rule, not on every run
            dead_letter(conn, tenant_id=tenant_id, source=DEAD_LETTER_SOURCE, entity_key=f"learner:{employee_id}",
                        reason=rule, detail={"error": error, "employee_id": employee_id}, payload=None)
    conn.commit()
    return len(refused)


def _record(conn: psycopg.Connection, tenant_id: str, statement: dict[str, Any], rule: str | None) -> None:
    f = facts(statement)
    conn.execute(sql_text("national/record.sql"), {
        "tenant_id": tenant_id, "statement_id": f.statement_id, "actor_name": f.actor,
        "verb": f.verb or str((statement.get("verb") or {}).get("id")), "object_id": f.object_id,
        "course_id": f.course_id, "attempt_id": f.attempt_id if isinstance(f.attempt_id, int) else None,
        "progress": f.progress, "certificate_id": f.object_id if f.verb == "earned" else None,
        "certificate_url": f.certificate_url, "statement": Jsonb(statement), "content_hash": content_hash(statement),
        "state": "dead" if rule else "pending", "refused_rule": rule})


def _gate(conn: psycopg.Connection, warehouse_url: str, tenant_id: str, statements: list[dict[str, Any]]) -> None:
    from credsync.national.quality import KEY_COLUMNS, SUITE_NAME, TABLE, statement_expectations
    from credsync.quality.gate import run_gate

    batch_id = str(uuid.uuid4())
    rows = []
    for statement in statements:
        f = facts(statement)
        context = statement.get("context") or {}
        rows.append({"tenant_id": tenant_id, "batch_id": batch_id, "statement_id": f.statement_id,
                     "actor_name": f.actor or None, "verb_id": (statement.get("verb") or {}).get("id"),
                     "object_id": f.object_id, "object_type": f.object_type, "platform": f.platform,
                     "language": context.get("language"), "extension_keys": ",".join(sorted(f.extensions))})
    with conn.cursor() as cur:
        cur.executemany(sql_text("national/stage_batch.sql"), rows)
    conn.commit()
    verdict = run_gate(warehouse_url, suite_name=SUITE_NAME, table=TABLE, batch_id=batch_id, tenant_id=tenant_id,
                       expectations=statement_expectations, key_columns=KEY_COLUMNS)
    if not verdict.success:
        raise NationalGateFailed(f"tenant {tenant_id}: the outgoing national LRS batch failed its gate, nothing "
                                 f"was sent: {verdict.summary}")


class _Sender:
    def __init__(self, conn: psycopg.Connection, tenant_id: str, client: NationalLrsClient, result: ForwardResult,
                 fault_hook: FaultHook | None) -> None:
        self.conn, self.tenant_id, self.client, self.result = conn, tenant_id, client, result
        self.fault_hook = fault_hook

    def _mark(self, ids: list[str], state: str, *, status: int | None = None, error: str | None = None,
              rule: str | None = None) -> None:
        self.conn.execute(sql_text("national/mark.sql"), {"tenant_id": self.tenant_id, "ids": ids, "state": state,
                                                          "status": status, "error": error, "rule": rule})

    def chunk(self, statements: list[dict[str, Any]]) -> None:
        ids = [str(s["id"]) for s in statements]
        self._mark(ids, "sent")
        self.conn.commit()
        self.result.sent += len(ids)
        try:
            outcome = self.client.post(statements)
        except ServiceUnavailable as exc:
            self.result.requests += len(exc.attempts)
            self._mark(ids, "sent", status=exc.status, error=str(exc)[:1000])
            self.conn.commit()
            raise ForwardIncomplete(f"tenant {self.tenant_id}: national LRS unavailable, {len(ids)} statement(s) "
                                    f"left to resend under the same ids (docs/national.md): {exc}") from exc
        self.result.requests += len(outcome.attempts)
        if self.fault_hook:
            self.fault_hook("after_send", self.result.sent)
        if outcome.accepted:
            self._acknowledge(ids, outcome)
        elif len(statements) > 1 and outcome.status == 400:
            for statement in statements:  # the LRS refuses a whole batch for one statement: isolate it
                self.chunk([statement])
        else:
            self._refused(statements[0], outcome)

    def _acknowledge(self, ids: list[str], outcome: PostOutcome) -> None:
        self._mark(ids, "acknowledged", status=200)
        self.result.acknowledged += len(ids)
        append_event(self.conn, tenant_id=self.tenant_id, event_type="national_lrs.sent", entity_type="lrs_batch",
                     entity_key=ids[0], detail={"statements": len(ids), "requests": len(outcome.attempts)})
        self.conn.commit()

    def _refused(self, statement: dict[str, Any], outcome: PostOutcome) -> None:
        sid = str(statement["id"])
        rule = outcome.rule or ("statement_id_conflict" if outcome.status == 409 else f"lrs_refused_{outcome.status}")
        self._mark([sid], "dead", status=outcome.status, error=str(outcome.error)[:1000], rule=rule)
        dead_letter(self.conn, tenant_id=self.tenant_id, source=DEAD_LETTER_SOURCE, entity_key=sid, reason=rule,
                    detail={"status": outcome.status, "answer": outcome.error}, payload={"statement": statement})
        self.result.dead += 1
        self.conn.commit()
