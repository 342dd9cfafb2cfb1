"""Dead-letter replay: send parked records again through the same idempotent paths.

Registry letters are rebuilt from the current warehouse data (so a fixed
worker name or date goes out corrected) and sent under the submission's own
idempotency key; the submission moves dead → acknowledged on success.
Write-back letters re-run the write-back for just those keys. Registry notification letters
are sent again under their own event id (:func:`credsync.delivery.notifications.replay_notification`).
Marketplace letters go through :func:`credsync.delivery.marketplace_replay.replay_marketplace_letters`.
Each outcome is
recorded on the letter and chained into the audit log. ``dry_run`` only lists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from credsync.audit import append_event
from credsync.delivery import submissions as subs
from credsync.delivery.notifications import DEAD_LETTER_SOURCE as NOTIFICATION_SOURCE
from credsync.delivery.notifications import replay_notification
from credsync.delivery.payload import MappingError, build_certificate, registry_mapping
from credsync.delivery.writeback import DEAD_LETTER_SOURCE as WRITEBACK_SOURCE
from credsync.delivery.writeback import sync_writebacks
from credsync.hooks.notifications import NotificationClient
from credsync.marketplace.ledger import DEAD_LETTER_SOURCE as MARKETPLACE_SOURCE
from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

    from credsync.hooks.hris import HrisClient as HrisWritebackClient
    from credsync.hooks.marketplace import MarketplaceHook
    from credsync.hooks.registry import RegistryClient

REGISTRY_SOURCE = subs.DEAD_LETTER_SOURCE
# Reconciliation letters for writes the registry acknowledged but no longer shows: sent again.
RESEND_AFTER_ACKNOWLEDGED = {"issue": ("recon_registry_missing",), "revoke": ("recon_registry_not_revoked",)}
SOURCES = (REGISTRY_SOURCE, WRITEBACK_SOURCE, NOTIFICATION_SOURCE, MARKETPLACE_SOURCE)


@dataclass(frozen=True)
class DeadLetter:
    dead_letter_id: int
    source: str
    entity_key: str
    reason: str
    attempts: int


@dataclass
class ReplayResult:
    tenant_id: str
    dry_run: bool
    selected: int = 0
    replayed: int = 0
    still_failing: int = 0
    would_replay: list[str] = field(default_factory=list)

    def as_counts(self) -> dict[str, Any]:
        counts = asdict(self)
        counts["would_replay"] = counts["would_replay"][:50]  # XCom stays small
        return counts


def select_dead_letters(conn: psycopg.Connection, tenant_id: str, *, source: str = "all",
                        reason: str | None = None, max_records: int = 100) -> list[DeadLetter]:
    """Open letters of ``tenant_id``; ``reason`` is a SQL LIKE pattern (``registry_rejected_%``)."""
    sources = list(SOURCES) if source == "all" else [source]
    rows = conn.execute(sql_text("delivery/open_dead_letters.sql"), {
        "tenant_id": tenant_id, "sources": sources, "reason": reason or None, "limit": max_records}).fetchall()
    return [DeadLetter(*row) for row in rows]


def replay_dead_letters(
    warehouse_url: str,
    tenant_id: str,
    *,
    source: str = "all",
    reason: str | None = None,
    max_records: int = 100,
    dry_run: bool = True,
    registry_client: RegistryClient | None = None,
    hris_client: HrisWritebackClient | None = None,
    payroll_dir: Any = None,  # None: the configured payroll store (writeback.payroll_store)
    as_of: date | None = None,
    notification_client: NotificationClient | Callable[[], NotificationClient] | None = None,
    marketplace_hook: Callable[[], MarketplaceHook] | None = None,  # None: the profile's Connection
    pseudonym_key: bytes | None = None,  # None: the tenant's key (marketplace members rebuilt for a PUT)
) -> ReplayResult:
    from credsync.warehouse import connect

    result = ReplayResult(tenant_id, dry_run)
    with connect(warehouse_url) as conn:
        letters = select_dead_letters(conn, tenant_id, source=source, reason=reason, max_records=max_records)
        conn.commit()
        result.selected = len(letters)
        if dry_run:
            result.would_replay = [f"{d.source}/{d.entity_key} ({d.reason})" for d in letters]
            return result
        registry_letters = [d for d in letters if d.source == REGISTRY_SOURCE]
        writeback_letters = [d for d in letters if d.source == WRITEBACK_SOURCE]
        if registry_letters:
            if registry_client is None:
                raise ValueError(f"{len(registry_letters)} registry dead letters need a registry client")
            for letter in registry_letters:
                ok, outcome = _replay_submission(conn, tenant_id, letter, registry_client)
                _close(conn, tenant_id, letter, ok, outcome, result)
        notification_letters = [d for d in letters if d.source == NOTIFICATION_SOURCE]
        if notification_letters:
            if notification_client is None:
                raise ValueError(f"{len(notification_letters)} registry notification dead letters need a "
                                 "notification client")
            # A factory is only called here: a tenant without notification letters needs no secret.
            client = notification_client if isinstance(notification_client, NotificationClient) \
                else notification_client()
            for letter in notification_letters:
                ok, outcome = replay_notification(conn, tenant_id, letter.entity_key, client)
                _close(conn, tenant_id, letter, ok, outcome, result)
        marketplace_letters = [d for d in letters if d.source == MARKETPLACE_SOURCE]
        if marketplace_letters:
            _replay_marketplace(warehouse_url, tenant_id, marketplace_hook, reason, len(marketplace_letters),
                                pseudonym_key, result)
        if writeback_letters:
            if hris_client is None or as_of is None:
                raise ValueError(f"{len(writeback_letters)} write-back dead letters need an HRIS client and as_of")
            keys = [d.entity_key for d in writeback_letters]
            conn.execute(sql_text("delivery/reopen_writebacks.sql"), {"tenant_id": tenant_id, "keys": keys})
            conn.commit()
            sync_writebacks(warehouse_url, tenant_id, hris_client, as_of=as_of, payroll_dir=payroll_dir,
                            only=set(keys))
            states = dict(conn.execute(
                "SELECT employee_id || ':' || target || ':' || credential_type, state FROM core.writebacks"
                " WHERE tenant_id = %s", (tenant_id,)).fetchall())
            for letter in writeback_letters:
                state = states.get(letter.entity_key)
                _close(conn, tenant_id, letter, state == "delivered", f"write-back {state or 'not needed'}",
                       result)
    return result


def _replay_marketplace(warehouse_url: str, tenant_id: str, hook: Callable[[], MarketplaceHook] | None,
                        reason: str | None, count: int, pseudonym_key: bytes | None, result: ReplayResult) -> None:
    # Imported here: credsync.delivery.marketplace_replay builds on this module (select, close).
    from credsync.delivery.marketplace_replay import replay_marketplace_letters
    from credsync.marketplace.profile import profile_of

    profile = profile_of(tenant_id)
    if profile is None:
        raise ValueError(f"{count} marketplace dead letters but {tenant_id} has no marketplace profile")
    # Built only here: a tenant without marketplace letters needs no marketplace Connection.
    if hook is None:
        from credsync.hooks.marketplace import MarketplaceHook

        built = MarketplaceHook(profile.conn_id, tenant_id)
    else:
        built = hook()
    # It selects the same open letters again (same query and order, at most as many as were selected
    # here) and closes each one through _close, under the marketplace's per-tenant lock.
    done = replay_marketplace_letters(warehouse_url, tenant_id, profile, built.client("events"),
                                      built.client("members"), reason=reason, max_records=count, dry_run=False,
                                      pseudonym_key=pseudonym_key)
    result.replayed += done.replayed
    result.still_failing += done.still_failing


def _replay_submission(conn: psycopg.Connection, tenant_id: str, letter: DeadLetter,
                       client: RegistryClient) -> tuple[bool, str]:
    row = conn.execute(sql_text("delivery/submission_by_key.sql"),
                       {"tenant_id": tenant_id, "key": letter.entity_key}).fetchone()
    if row is None:
        return False, "no submission with this idempotency key"
    operation, state = row
    if state == "acknowledged":
        if letter.reason in RESEND_AFTER_ACKNOWLEDGED.get(operation, ()):
            return _resend_acknowledged(conn, tenant_id, letter, operation, client)
        return True, "already acknowledged"
    if operation == "issue":
        sources = subs.sources(conn, "delivery/issue_sources.sql", tenant_id, [letter.entity_key])
        try:
            certificate = build_certificate(sources[0], registry_mapping(), record_key=letter.entity_key)
        except MappingError as exc:
            return False, f"still failing: {exc}"
        outcome, attempts = client.create(letter.entity_key, certificate)
    else:
        source = subs.sources(conn, "delivery/revoke_sources.sql", tenant_id, [letter.entity_key])[0]
        if source["issue_state"] != "acknowledged" or not source["registry_id"]:
            return False, f"still failing: the issue is {source['issue_state'] or 'missing'}, nothing to revoke"
        outcome, attempts = client.revoke(letter.entity_key, source["registry_id"], source["reason"])
    credential = str(conn.execute(
        "SELECT credential_id FROM core.registry_submissions WHERE idempotency_key = %s",
        (letter.entity_key,)).fetchone()[0])
    subs.record_attempts(conn, tenant_id, [
        subs.AttemptRow(credential, letter.entity_key, operation, attempt,
                        outcome.status if i == len(attempts) - 1 else None,
                        "replay" if i == len(attempts) - 1 else None)
        for i, attempt in enumerate(attempts)])
    if outcome.accepted:
        subs.acknowledge(conn, tenant_id, [outcome])
        return True, f"acknowledged ({outcome.status}, registry id {outcome.registry_id})"
    return False, f"still failing: {outcome.status} {str(outcome.problem)[:300]}"


def _resend_acknowledged(conn: psycopg.Connection, tenant_id: str, letter: DeadLetter, operation: str,
                         client: RegistryClient) -> tuple[bool, str]:
    """Reconciliation saw the registry lose (or never apply) a write we hold as acknowledged.

    Sent again under a key derived from the submission's key and the registry id it
    had, so a retry of this replay is idempotent but the registry does not just
    replay its stored answer for the original key.
    """
    sql_file = "delivery/issue_sources.sql" if operation == "issue" else "delivery/revoke_sources.sql"
    found = subs.sources(conn, sql_file, tenant_id, [letter.entity_key], states=("acknowledged",))
    if not found:
        return False, "no acknowledged submission with this idempotency key"
    source = found[0]
    old_id = conn.execute("SELECT registry_id FROM core.registry_submissions WHERE idempotency_key = %s",
                          (letter.entity_key,)).fetchone()[0]
    key = f"{letter.entity_key}-resend-{old_id}"
    if operation == "issue":
        try:
            certificate = build_certificate(source, registry_mapping(), record_key=letter.entity_key)
        except MappingError as exc:
            return False, f"still failing: {exc}"
        outcome, attempts = client.create(key, certificate)
    else:
        outcome, attempts = client.revoke(key, source["registry_id"], source["reason"])
    subs.record_attempts(conn, tenant_id, [
        subs.AttemptRow(str(source["credential_id"]), key, operation, attempt,
                        outcome.status if i == len(attempts) - 1 else None,
                        "replay" if i == len(attempts) - 1 else None)
        for i, attempt in enumerate(attempts)])
    if not outcome.accepted:
        return False, f"still failing: {outcome.status} {str(outcome.problem)[:300]}"
    if operation == "issue" and outcome.registry_id and outcome.registry_id != old_id:
        conn.execute("SELECT set_config('credsync.registry_restore', 'on', true)")
        conn.execute("UPDATE core.registry_submissions SET registry_id = %s, last_status = %s"
                     " WHERE idempotency_key = %s", (outcome.registry_id, outcome.status, letter.entity_key))
    append_event(conn, tenant_id=tenant_id, event_type=f"registry.resent.{operation}", entity_type="credential",
                 entity_key=str(source["credential_id"]),
                 detail={"idempotency_key": key, "previous_registry_id": old_id,
                         "registry_id": outcome.registry_id, "status": outcome.status})
    return True, f"sent again ({outcome.status}, registry id {outcome.registry_id})"


def _close(conn: psycopg.Connection, tenant_id: str, letter: DeadLetter, ok: bool, outcome: str,
           result: ReplayResult) -> None:
    conn.execute(sql_text("delivery/close_dead_letter.sql"),
                 {"replayed": ok, "outcome": outcome, "dead_letter_id": letter.dead_letter_id})
    append_event(conn, tenant_id=tenant_id, event_type="dead_letter.replayed", entity_type=letter.source,
                 entity_key=letter.entity_key, detail={"reason": letter.reason, "ok": ok, "outcome": outcome})
    conn.commit()
    if ok:
        result.replayed += 1
    else:
        result.still_failing += 1
