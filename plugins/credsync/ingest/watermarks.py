"""Where a source stream resumes: one ``audit.sync_state`` row per (tenant, source, stream).

A watermark only moves forward, and only in the transaction of the load it covers, so it never
passes data that did not commit. How two watermarks compare is the stream's: the HRIS export's
``as_of`` instants compare as timestamps (``order="instant"``); the learning streams keep the
source's own text order (``order="text"``, the LRS ``stored`` stamps of one format).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, NamedTuple

from credsync.paths import sql_text

if TYPE_CHECKING:
    import psycopg

Order = Literal["instant", "text"]


class Stream(NamedTuple):
    """A source stream, e.g. ``Stream("hris", "workers")``; a plain ``(source, stream)`` tuple too."""

    source: str
    stream: str

    @property
    def key(self) -> str:
        """``source.stream``, the form XCom carries."""
        return f"{self.source}.{self.stream}"

    @classmethod
    def parse(cls, key: str) -> Stream:
        source, _, stream = key.partition(".")
        if not source or not stream:
            raise ValueError(f"stream key {key!r} is not 'source.stream'")
        return cls(source, stream)


def current_watermark(conn: psycopg.Connection | psycopg.Cursor, tenant_id: str,
                      stream: tuple[str, str]) -> str | None:
    """Where ``stream`` resumes for the tenant (None = from the start).

    On an idle connection outside autocommit the read transaction it opened is ended, so the
    connection stays idle for the caller's next transaction; one already in a transaction is left in it.
    """
    from psycopg.pq import TransactionStatus

    info = getattr(conn, "info", None)
    was_idle = (info is not None and not getattr(conn, "autocommit", True)
                and info.transaction_status == TransactionStatus.IDLE)
    row = conn.execute(sql_text("ingest/get_watermark.sql"),
                       {"tenant_id": tenant_id, "source": stream[0], "stream": stream[1]}).fetchone()
    if was_idle:
        conn.rollback()  # type: ignore[union-attr]
    return row[0] if row else None


def advance_watermark(conn: psycopg.Connection | psycopg.Cursor, *, tenant_id: str, stream: tuple[str, str],
                      watermark: str, batch_id: str | None, order: Order = "text") -> None:
    """Move the stream's watermark forward to ``watermark`` (a no-op if it is already at or past it).

    Runs in the caller's (merge) transaction. ``batch_id`` None (an empty delta) keeps the last batch.
    """
    if order not in ("instant", "text"):
        raise ValueError(f"watermark order {order!r}: expected 'instant' or 'text'")
    conn.execute(sql_text("ingest/advance_watermark.sql"), {
        "tenant_id": tenant_id, "source": stream[0], "stream": stream[1], "watermark": watermark,
        "batch_id": batch_id, "as_instant": order == "instant",
    })
