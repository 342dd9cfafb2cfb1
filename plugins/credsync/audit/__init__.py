"""Hash-chained audit log and dead letters.

``append_event`` adds one event to a tenant's chain inside the caller's
transaction; ``verify_chain`` walks the chains and names the first broken row;
``dead_letter`` parks a record that needs a human, ready for replay.
"""

from credsync.audit.chain import (
    GENESIS_HASH,
    AuditEvent,
    ChainBreak,
    ChainReport,
    append_event,
    append_events,
    row_hash,
    verify_chain,
)
from credsync.audit.dead_letters import dead_letter

__all__ = [
    "GENESIS_HASH",
    "AuditEvent",
    "ChainBreak",
    "ChainReport",
    "append_event",
    "append_events",
    "dead_letter",
    "row_hash",
    "verify_chain",
]
