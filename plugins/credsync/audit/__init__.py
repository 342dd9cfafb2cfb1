"""Hash-chained audit log and dead letters.

``append_event`` adds one event to a tenant's chain inside the caller's
transaction; ``verify_chain`` walks the chains and names the first broken row;
``dead_letter`` parks a record that needs a human, ready for replay;
``checkpoints`` signs chain heads into a store outside the warehouse so that
``verify_chain`` also catches rechaining, tail cuts and truncation.
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
from credsync.audit.checkpoints import Checkpoint, ForgedCheckpoint, load_checkpoints, write_checkpoint
from credsync.audit.dead_letters import dead_letter

__all__ = [
    "GENESIS_HASH",
    "AuditEvent",
    "ChainBreak",
    "ChainReport",
    "Checkpoint",
    "ForgedCheckpoint",
    "append_event",
    "append_events",
    "dead_letter",
    "load_checkpoints",
    "row_hash",
    "verify_chain",
    "write_checkpoint",
]
