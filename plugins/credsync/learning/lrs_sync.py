"""Which statements one pull asks the LRS for, and where the next pull resumes: right for every LRS.

LRSs differ where the xAPI spec leaves room, and a watermark that trusts one reading loses data
on another. Seen in the real Ralph LRS (ralph-malph 5.1): ``since`` filters on ``timestamp``
(the spec says ``stored``), no ``X-Experience-API-Consistent-Through``, pages newest-first,
a year-2999 timestamp stored as given. So:

- **Overlap window.** A pull asks for ``since = watermark - lookback`` (default 24 h, Connection
  extra ``lookback_hours`` / DAG param). A statement stored late with an older timestamp, or a
  late voiding statement, is caught by the next pull if it is less than the lookback late;
  statements pulled twice dedupe by id (staging keeps the first version, the merge is a no-op).
- **Watermark** = the lower of the newest ``stored`` and the newest ``timestamp`` seen, both
  bounded by now (+ clock skew), then capped at ``X-Experience-API-Consistent-Through`` when the
  LRS sends it. Using the lower one is right whether the LRS filters ``since`` on stored or on
  timestamp; page order does not matter because the whole pull is seen before the watermark
  moves (in the merge transaction).
- **No poison pills.** A future-dated statement is quarantined by the normaliser
  (``timestamp_not_future``) and cannot move the watermark (it is beyond now). Statements
  already quarantined by a merged batch are skipped when an LRS sends them again (Ralph does,
  every pull, for a future timestamp): counted as ``already_quarantined``, never re-counted
  against a later batch; they stay listed in ``audit.quarantine`` and come back with
  ``replay_quarantined`` (a run that re-evaluates them, e.g. after a normaliser fix).
- **Statement-id reconciliation.** What no watermark can catch (a statement stored later than
  the lookback with an old timestamp, on an LRS that filters on timestamp) is found by reading
  a wide window (default 90 days) and keeping only ids the warehouse has never seen
  (``core.completions``, ``core.voided_statements``, ``core.held_completions``, merged
  quarantine): when no merged batch of the tenant reconciled in the last 7 days
  (``audit.lrs_pulls``), and on demand with the DAG param ``reconcile_statement_ids``.
- **Lateness** (stored - timestamp) of every statement pulled is recorded per batch in
  ``audit.lrs_pulls`` (count, max, p95 from a fixed histogram) so the lookback can be sized.

Plain Python + psycopg; the HTTP side is whatever the hook's statement pull is (anything
iterable with ``since`` and, optionally, ``consistent_through``).
"""

from __future__ import annotations

import bisect
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

WATERMARK_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
#: Histogram edges (seconds) for lateness = stored - timestamp: 1 min, 5 min, 1 h, 6 h, 1 d, 7 d, 30 d.
LATENESS_EDGES = (60, 300, 3600, 21600, 86400, 604800, 2592000)
KNOWN_ID_CHUNK = 5000
#: Statements read ahead in the background (``PREFETCH_DEPTH`` chunks of ``PREFETCH_CHUNK``, about
#: four LRS pages): enough to keep the LRS busy while this thread normalises, bounded so memory is flat.
PREFETCH_CHUNK = 500
PREFETCH_DEPTH = 4


def format_watermark(moment: datetime) -> str:
    """Fixed-width UTC text, so watermarks compare correctly as strings in audit.sync_state."""
    return moment.astimezone(UTC).strftime(WATERMARK_FORMAT)


def parse_time(text: Any) -> datetime | None:
    """An xAPI timestamp as an aware datetime (no offset = UTC); None if it is not one."""
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class LrsSyncPolicy:
    """How far back each pull overlaps and how the statement-id reconciliation runs."""

    lookback: timedelta = timedelta(hours=24)
    clock_skew: timedelta = timedelta(minutes=5)
    reconcile_every: timedelta = timedelta(days=7)
    reconcile_window: timedelta = timedelta(days=90)

    def __post_init__(self) -> None:
        if self.lookback < timedelta(0) or self.reconcile_window <= timedelta(0):
            raise ValueError("lookback must be >= 0 and reconcile_window > 0")

    @classmethod
    def from_settings(cls, extra: Mapping[str, Any] | None = None, params: Mapping[str, Any] | None = None,
                      ) -> LrsSyncPolicy:
        """From the LRS Connection extra (``lookback_hours``, ``reconcile_every_days``,
        ``reconcile_window_days``), a DAG run's params overriding (same names, None = not set)."""
        merged = {**(extra or {}), **{k: v for k, v in (params or {}).items() if v is not None}}
        default = cls()

        def hours(name: str, fallback: timedelta, unit: float) -> timedelta:
            value = merged.get(name)
            return fallback if value is None else timedelta(hours=float(value) * unit)

        return cls(lookback=hours("lookback_hours", default.lookback, 1),
                   reconcile_every=hours("reconcile_every_days", default.reconcile_every, 24),
                   reconcile_window=hours("reconcile_window_days", default.reconcile_window, 24))

    def since_for(self, watermark: str | None) -> str | None:
        """The ``since`` to ask for: the watermark moved back by the lookback (None = everything)."""
        moment = parse_time(watermark)
        return None if moment is None else format_watermark(moment - self.lookback)


@dataclass
class PullStats:
    """What one pull saw; written to audit.lrs_pulls and returned in the task's counts."""

    since: str | None = None
    watermark_before: str | None = None
    watermark_after: str | None = None
    consistent_through: str | None = None
    statements: int = 0
    duplicates: int = 0
    already_quarantined: int = 0
    already_merged: int = 0
    future_dated: int = 0
    reconciled: bool = False
    reconcile_since: str | None = None
    reconcile_listed: int = 0
    reconcile_missing: int = 0
    lateness_count: int = 0
    lateness_max_s: float | None = None
    lateness_buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENESS_EDGES) + 1))

    def note_lateness(self, seconds: float) -> None:
        self.lateness_count += 1
        self.lateness_max_s = seconds if self.lateness_max_s is None else max(self.lateness_max_s, seconds)
        self.lateness_buckets[bisect.bisect_left(LATENESS_EDGES, seconds)] += 1

    @property
    def lateness_p95_s(self) -> float | None:
        """Upper edge of the histogram bucket holding the 95th percentile (max for the last bucket)."""
        if not self.lateness_count:
            return None
        rank, running = 0.95 * self.lateness_count, 0
        for index, count in enumerate(self.lateness_buckets):
            running += count
            if running >= rank:
                return float(LATENESS_EDGES[index]) if index < len(LATENESS_EDGES) else self.lateness_max_s
        return self.lateness_max_s

    def as_counts(self) -> dict[str, Any]:
        return {
            "since": self.since, "watermark_before": self.watermark_before, "watermark_after": self.watermark_after,
            "consistent_through": self.consistent_through, "statements": self.statements,
            "duplicates": self.duplicates, "already_quarantined": self.already_quarantined,
            "already_merged": self.already_merged,
            "future_dated": self.future_dated, "reconciled": self.reconciled,
            "reconcile_since": self.reconcile_since, "reconcile_listed": self.reconcile_listed,
            "reconcile_missing": self.reconcile_missing, "lateness_count": self.lateness_count,
            "lateness_max_s": self.lateness_max_s, "lateness_p95_s": self.lateness_p95_s,
        }


class LrsQueryFailed(RuntimeError):
    """The LRS refused or failed a statements query; the message names the LRS, the query and what to do."""


class StatementSync:
    """One tenant's statements for one batch: the overlap pull, then (if due) the reconciliation.

    ``open_pull(since)`` returns the hook's statement pull (iterable, with ``since``; after
    iteration optionally ``consistent_through`` / ``_consistent_through`` and ``duplicates``).
    Iterate this object once; afterwards :attr:`watermark` is where the next pull resumes and
    :attr:`stats` what was seen. ``since`` (and ``window_part``) name the batch's window.
    """

    def __init__(self, open_pull: Callable[[str | None], Iterable[dict[str, Any]]], *, watermark: str | None,
                 policy: LrsSyncPolicy, skip_ids: frozenset[str] = frozenset(),
                 reconcile_since: str | None = None, known_ids: Callable[[list[str]], set[str]] | None = None,
                 lrs_name: str = "LRS", now: datetime | None = None,
                 on_close: Callable[[], None] | None = None) -> None:
        self.open_pull, self.policy, self.skip_ids, self.known_ids = open_pull, policy, skip_ids, known_ids
        self._on_close = on_close
        #: Statements stored before this are re-reads of the overlap (the last merged pull's start).
        self.old_news_before: datetime | None = None
        self.lrs_name = lrs_name
        self.now = now or datetime.now(UTC)
        self.since = policy.since_for(watermark)
        self.watermark: str | None = watermark
        self.stats = PullStats(since=self.since, watermark_before=watermark, reconciled=reconcile_since is not None,
                               reconcile_since=reconcile_since)
        self._reconcile_since = reconcile_since
        self._newest_stored: datetime | None = None
        self._newest_timestamp: datetime | None = None
        self._consistent: datetime | None = None

    @property
    def window_part(self) -> str:
        """This pull as part of ``audit.batches.window_key`` (a refused window re-stages the same batch)."""
        part = f"since={self.since or 'start'}"
        return part + (f" reconcile_since={self._reconcile_since}" if self._reconcile_since else "")

    def __iter__(self) -> Iterator[dict[str, Any]]:
        # Repeats are deduplicated in staging, in SQL (note_repeated counts them): no set of every id
        # pulled. Only a reconciliation run keeps the ids of its overlap pull (an incremental window,
        # not the whole history), so that the wide listing does not report them as missed.
        seen: set[str] | None = set() if self._reconcile_since is not None else None
        try:
            query = f"since={self.since or '(none)'}"
            pull = self._open(self.since, query)
            overlap = self._drop_merged_in_overlap if self.known_ids and self.watermark else None
            yield from self._guarded(prefetched(pull), seen, query=query, keep=overlap)
            self._note_consistency(pull)
            self.stats.duplicates += int(getattr(pull, "duplicates", 0) or 0)
            if self._reconcile_since is not None:
                yield from self._reconcile(seen or set())
            self._finish()
        finally:
            if self._on_close is not None:
                self._on_close()

    def note_repeated(self, count: int) -> None:
        """Staging dropped ``count`` repeated copies of statements this sync yielded."""
        self.stats.duplicates += count
        self.stats.statements -= count

    def record(self, conn: psycopg.Connection, batch_id: str, tenant_id: str) -> None:
        """Write what this pull saw for ``batch_id`` (audit.lrs_pulls) and log it."""
        record_pull(conn, tenant_id=tenant_id, batch_id=batch_id, stats=self.stats)

    # -- the pulls -------------------------------------------------------------------------

    def _open(self, since: str | None, query: str) -> Iterable[dict[str, Any]]:
        try:
            return self.open_pull(since)
        except Exception as exc:  # a Connection or client the hook cannot build: same explanation
            raise LrsQueryFailed(self._explain(exc, query)) from exc

    def _guarded(self, pull: Iterable[dict[str, Any]], seen: set[str] | None, *, query: str,
                 keep: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
                 listing: bool = False) -> Iterator[dict[str, Any]]:
        """Statements of ``pull`` not quarantined before (and kept by ``keep``), and when ``seen`` is
        given not already yielded by this sync; LRS errors explained."""
        iterator = iter(pull)
        chunk: list[dict[str, Any]] = []
        while True:
            try:
                statement = next(iterator)
            except StopIteration:
                break
            except Exception as exc:  # whatever the HTTP layer raises: name the LRS and the query
                raise LrsQueryFailed(self._explain(exc, query)) from exc
            if listing:
                self.stats.reconcile_listed += 1
            statement_id = statement.get("id") if isinstance(statement, dict) else None
            if isinstance(statement_id, str):
                if seen is not None:
                    if statement_id in seen:
                        self.stats.duplicates += 1
                        continue
                    seen.add(statement_id)
                if statement_id in self.skip_ids:
                    self.stats.already_quarantined += 1
                    continue
            if keep is None:
                yield self._observe(statement)
                continue
            chunk.append(statement)
            if len(chunk) >= KNOWN_ID_CHUNK:
                yield from (self._observe(s) for s in keep(chunk))
                chunk = []
        if keep is not None and chunk:
            yield from (self._observe(s) for s in keep(chunk))

    def _drop_merged_in_overlap(self, chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The overlap re-reads statements stored before the watermark: those the warehouse already
        has are dropped here (``already_merged``) rather than staged, gated and merged as no-ops.
        Statements stored after the watermark are always staged (a re-sent id with other content
        is still caught as conflicting_duplicate)."""
        before = max(filter(None, (parse_time(self.watermark), self.old_news_before)), default=None)
        in_overlap = [s["id"] for s in chunk if isinstance(s, dict) and isinstance(s.get("id"), str)
                      and (stored := parse_time(s.get("stored"))) is not None and before is not None
                      and stored <= before]
        known = self.known_ids(in_overlap) if in_overlap and self.known_ids else set()
        self.stats.already_merged += len(known)
        return [s for s in chunk if not (isinstance(s, dict) and s.get("id") in known)]

    def _reconcile(self, seen: set[str]) -> Iterator[dict[str, Any]]:
        """Read the wide window and keep the statements whose ids the warehouse has never seen."""
        if self.known_ids is None:
            raise ValueError("a reconciliation needs known_ids")
        known_ids = self.known_ids

        def missing(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
            ids = [s["id"] for s in chunk if isinstance(s, dict) and isinstance(s.get("id"), str)]
            known = known_ids(ids)
            kept = [s for s in chunk if not (isinstance(s, dict) and s.get("id") in known)]
            self.stats.reconcile_missing += len(kept)
            return kept

        query = f"since={self._reconcile_since} (statement-id reconciliation)"
        pull = self._open(self._reconcile_since, query)
        yield from self._guarded(prefetched(pull), seen, query=query, keep=missing, listing=True)
        self._note_consistency(pull)
        if self.stats.reconcile_missing:
            log.warning("%s: the statement-id reconciliation found %d statement(s) since %s that no pull had"
                        " brought (stored later than the %s lookback with an older timestamp?); they are in"
                        " this batch", self.lrs_name, self.stats.reconcile_missing, self._reconcile_since,
                        self.policy.lookback)

    def _observe(self, statement: Any) -> Any:
        self.stats.statements += 1
        if not isinstance(statement, dict):
            return statement
        stored, timestamp = parse_time(statement.get("stored")), parse_time(statement.get("timestamp"))
        horizon = self.now + self.policy.clock_skew
        if timestamp is not None and timestamp > horizon:
            self.stats.future_dated += 1  # quarantined by the normaliser; never moves the watermark
            return statement
        if stored is not None and stored <= horizon:
            self._newest_stored = stored if self._newest_stored is None else max(self._newest_stored, stored)
        if timestamp is not None:
            self._newest_timestamp = (timestamp if self._newest_timestamp is None
                                      else max(self._newest_timestamp, timestamp))
        if stored is not None and timestamp is not None:
            self.stats.note_lateness(max((stored - timestamp).total_seconds(), 0.0))
        return statement

    def _note_consistency(self, pull: Any) -> None:
        moment = getattr(pull, "consistent_through", None) or getattr(pull, "_consistent_through", None)
        if isinstance(moment, str):
            moment = parse_time(moment)
        if isinstance(moment, datetime):
            self._consistent = moment if self._consistent is None else min(self._consistent, moment)
            self.stats.consistent_through = format_watermark(self._consistent)

    def _finish(self) -> None:
        seen = [m for m in (self._newest_stored, self._newest_timestamp) if m is not None]
        if seen:
            resume = min(seen)
            if self._consistent is not None:
                resume = min(resume, self._consistent)
            candidate = format_watermark(resume)
            if self.watermark is None or candidate > self.watermark:
                self.watermark = candidate
        self.stats.watermark_after = self.watermark

    def _explain(self, exc: BaseException, query: str) -> str:
        text = str(exc)
        hint = ("check the LRS's own log for this query. If the LRS fails every `since` query (Ralph 5.1 does,"
                " with a 500, once it stores a statement whose timestamp has no timezone), fix or remove that"
                " statement in the LRS; until then trigger lms_completion_pull with full_pull=true for this"
                " tenant (reads without `since`, dedupes). Other tenants are not affected.")
        status = getattr(exc, "status", None) or getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            hint = "check the LRS Connection's login/password (HTTP Basic key and secret) or OAuth2 settings."
        return (f"{self.lrs_name}: GET statements ({query}) failed: {type(exc).__name__}: {text[:500]}."
                f" What to do: {hint}")


class _Failed(NamedTuple):
    error: BaseException


def prefetched(source: Iterable[Any], *, chunk: int = PREFETCH_CHUNK, depth: int = PREFETCH_DEPTH,
               ) -> Iterator[Any]:
    """``source``'s items, read in a background thread at most ``depth`` chunks ahead.

    The HTTP round trips of the next pages (the LRS building them, the wire) then overlap the
    normalising and COPY of the last ones instead of adding to them. Items keep their order; an
    exception of ``source`` is raised here after the items before it, so callers see it where
    they would have. Closing this iterator early stops the reader at its next item.
    """
    import queue
    import threading

    buffer: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        items: list[Any] = []
        try:
            for item in source:
                items.append(item)
                if len(items) >= chunk:
                    if not put(items):
                        return
                    items = []
        except BaseException as exc:  # handed to the consumer, raised there
            if not items or put(items):
                put(_Failed(exc))
            return
        if not items or put(items):
            put(done)

    reader = threading.Thread(target=read, name="lrs-prefetch", daemon=True)
    reader.start()
    try:
        while True:
            got = buffer.get()
            if got is done:
                return
            if isinstance(got, _Failed):
                raise got.error
            yield from got
    finally:
        stop.set()
        reader.join(timeout=5)


# -- the warehouse side ----------------------------------------------------------------------


def quarantined_statement_ids(conn: psycopg.Connection, tenant_id: str) -> frozenset[str]:
    """Statement ids a merged batch of ``tenant_id`` quarantined: not re-counted when sent again."""
    rows = conn.execute(sql_text("learning/quarantined_statement_ids.sql"), {"tenant_id": tenant_id}).fetchall()
    if not conn.autocommit:
        conn.rollback()
    return frozenset(row[0] for row in rows)


def known_ids_lookup(conn: psycopg.Connection, tenant_id: str) -> Callable[[list[str]], set[str]]:
    """``ids -> the ones the warehouse has seen`` for the reconciliation (one query per chunk)."""

    def lookup(ids: list[str]) -> set[str]:
        if not ids:
            return set()
        rows = conn.execute(sql_text("learning/known_statement_ids.sql"),
                            {"tenant_id": tenant_id, "ids": ids}).fetchall()
        if not conn.autocommit:
            conn.rollback()
        return {row[0] for row in rows}

    return lookup


def reconcile_since(conn: psycopg.Connection, tenant_id: str, policy: LrsSyncPolicy, *, watermark: str | None,
                    requested: bool, now: datetime | None = None) -> str | None:
    """The start of the reconciliation window if one runs now, else None.

    Runs when asked for, or when no merged batch of the tenant reconciled within
    ``reconcile_every``. The window is anchored at the watermark (``watermark - reconcile_window``),
    so a refused batch is retried as the same window. A first pull (no watermark) reads
    everything: none needed.
    """
    now = now or datetime.now(UTC)
    moment = parse_time(watermark)
    if moment is None:
        return None
    if not requested:
        row = conn.execute(sql_text("learning/last_reconciliation.sql"), {"tenant_id": tenant_id}).fetchone()
        if not conn.autocommit:
            conn.rollback()
        if row is None or row[0] is None or now - row[0] < policy.reconcile_every:
            return None  # reconciled recently, or no merged sync pull yet to count from
    return format_watermark(moment - policy.reconcile_window)


def open_statement_sync(
    warehouse_url: str,
    *,
    tenant_id: str,
    open_pull: Callable[[str | None], Iterable[dict[str, Any]]],
    policy: LrsSyncPolicy | None = None,
    reconcile: bool = False,
    replay_quarantined: bool = False,
    lrs_name: str = "LRS",
) -> Callable[[str | None], StatementSync]:
    """``watermark -> StatementSync`` for the flow's ``open_statements``: the skip list, the
    reconciliation decision and the known-id lookups read ``warehouse_url`` (their own connection)."""
    from credsync.warehouse import connect

    policy = policy or LrsSyncPolicy()

    def open_sync(watermark: str | None) -> StatementSync:
        conn = connect(warehouse_url, autocommit=True)
        skip = frozenset() if replay_quarantined else quarantined_statement_ids(conn, tenant_id)
        since = reconcile_since(conn, tenant_id, policy, watermark=watermark, requested=reconcile)
        sync = StatementSync(open_pull, watermark=watermark, policy=policy, skip_ids=skip, reconcile_since=since,
                             known_ids=known_ids_lookup(conn, tenant_id), lrs_name=lrs_name, on_close=conn.close)
        last_pull = conn.execute(sql_text("learning/last_reconciliation.sql"), {"tenant_id": tenant_id}).fetchone()[1]
        if watermark is not None and last_pull is not None:
            sync.old_news_before = last_pull - policy.clock_skew
        return sync

    return open_sync


def record_pull(conn: psycopg.Connection, *, tenant_id: str, batch_id: str, stats: PullStats) -> None:
    """One audit.lrs_pulls row per batch (a re-staged batch overwrites its row)."""
    conn.execute(sql_text("learning/record_lrs_pull.sql"), {
        "tenant_id": tenant_id, "batch_id": batch_id, **{k: v for k, v in stats.as_counts().items()},
        "lateness_buckets": json.dumps(dict(zip([*(f"le_{e}s" for e in LATENESS_EDGES), "over"],
                                                stats.lateness_buckets, strict=True))),
    })
    if not conn.autocommit:
        conn.commit()
    log.info("LRS pull of %s (batch %s): %s", tenant_id, batch_id, json.dumps(stats.as_counts(), default=str))
