"""dlq_replay: replay dead letters through the same idempotent paths (manual, validated params)."""

from __future__ import annotations

from airflow.sdk import Param, dag

from credsync.dagkit import DEFAULT_ARGS, check_warehouse_schema
from credsync.delivery.tasks import replay_dead_letters, replay_tenants
from credsync.tenants import load_tenants

DOC = """
### dlq_replay

Manual. Sends open `audit.dead_letters` again through the path that parked
them, after someone fixed the cause (a worker name, a date, a worker missing
in the HRIS):

- source `registry`: the certificate is rebuilt from today's warehouse data
  and sent under the submission's own idempotency key; the submission moves
  `dead → acknowledged`. The registry answers a repeat with its stored reply
  or 409 + the existing id, so a replay never duplicates.
- source `hris_writeback`: the write-back of exactly those keys runs again.
- source `registry_notification`: the notification is sent again under its
  own event id (the registry keeps each id once); `dead → acknowledged`. One
  the registry rejected after review stays open (docs/registry.md).
- source `marketplace`: an event is sent again under its own id (the
  marketplace answers a stored one `duplicate`); a member letter rebuilds the
  member from today's data and PUTs it whole (replaying a reconciliation flag
  is the reviewer's decision); a refused bulk import is left for the next
  marketplace_sync export. Needs the tenant's `marketplace_<tenant>` Connection
  only when it has marketplace letters.

Every outcome is recorded on the letter (`status`, `replay_outcome`,
`attempts`) and chained into `audit.events`. Letters still failing stay open.

**Params**: `tenant` (one tenant or `all`), `source`, `reason` (SQL LIKE
pattern, e.g. `registry_rejected_%`; empty = any), `max_records` per tenant,
`dry_run` (default true: list what would be replayed, change nothing).
Returns per tenant `{selected, replayed, still_failing, would_replay}`.
"""

TENANT_CHOICES = ["all", *[t.tenant_id for t in load_tenants()]]


@dag(
    dag_id="dlq_replay",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    # Replays go through the idempotent paths, so a retry after a lost worker is harmless.
    default_args={**DEFAULT_ARGS, "retries": 1},
    doc_md=DOC,
    tags=["credsync", "operations", "delivery"],
    params={
        "tenant": Param("all", type="string", enum=TENANT_CHOICES, description="Tenant to replay, or all."),
        "source": Param("all", type="string", enum=["all", "registry", "hris_writeback", "registry_notification",
                                                           "marketplace"],
                        description="Which dead letters: registry pushes, HRIS write-backs, registry "
                                    "notifications, marketplace events and members, or all."),
        # Nullable: the trigger form sends an empty field as null, and a plain "string" type would
        # then count as required and disable the Trigger button.
        "reason": Param(None, type=["null", "string"], maxLength=200,
                        description="SQL LIKE filter on the reason, e.g. registry_rejected_%. Empty = any."),
        "max_records": Param(100, type="integer", minimum=1, maximum=10000,
                             description="At most this many letters per tenant."),
        "dry_run": Param(True, type="boolean", description="List what would be replayed; change nothing."),
    },
)
def dlq_replay() -> None:
    tenants = replay_tenants(tenant="{{ params.tenant }}")
    check_warehouse_schema() >> tenants
    replay_dead_letters.expand(tenant_id=tenants)


dlq_replay()
