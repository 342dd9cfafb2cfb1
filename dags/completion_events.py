"""DAG completion_events: recorded LMS completion events → core.completions → credentials → registry → HRIS."""

from __future__ import annotations

from datetime import timedelta

from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
from airflow.sdk import Asset, AssetOrTimeSchedule, AssetWatcher, CronTriggerTimetable, Param, dag, task_group

from credsync.dagkit import DEFAULT_ARGS, check_warehouse_schema
from credsync.events.tasks import deliver, ingest, issue, tenants_with_events
from credsync.events.wakeup import CHANNEL, REDIS_CONN_ID

DOC = """
### Completion events

**What**: the LMS posts each completion to `/credsync-events/lms/<tenant>/completions` (signed,
`credsync.events.app`); the receiver commits it to `audit.lms_completion_events` and publishes a
wake-up on Redis. This DAG's asset watches that channel (`AssetWatcher` + `MessageQueueTrigger`,
`redis+pubsub`), so a run starts seconds after the event. Per tenant with waiting events, task
`ingest` claims them, stages their completions as one batch (`staging.completions`), runs the **same
LMS GX gate** as `lms_completion_pull` and merges with the pull's merge (same key, `(tenant,
'lms_rest', enrollment_id)`: an event and the pull never make two completions); `issue` makes the
credentials; `deliver` pushes the new ones to the registry and writes back the affected learners'
HRIS lines. Few tasks on purpose: each task start costs seconds on this path.

**Safety net**: the message is only a wake-up. Every 5 minutes the DAG also runs on its schedule and
sweeps events still `received` (a lost message, Redis down, the triggerer restarting) and events
claimed more than 15 minutes ago by a run that never finished (a killed worker). The hourly
`lms_completion_pull` reads the LMS export itself and catches anything the LMS never sent.

**Inputs**: `audit.lms_completion_events`; connections `credsync_warehouse`, `credsync_redis`
(the watcher), per tenant `registry_<tenant>`, `hris_<tenant>`, `credsync_signing_key`.

**Outputs**: `core.completions`, `core.credentials`, `core.registry_submissions`, `core.writebacks`;
each event ends `processed` (outcome `loaded`, `held`, `quarantined`, `not_completed`) or `refused`
with the gate's reason.

**Rerun safely**: a retried `ingest` takes the events its run claimed and re-stages the same batch;
issuance, registry push (Idempotency-Key) and write-back (payload hash) are idempotent. A refused
batch fails that tenant only; fix the LMS data, then the hourly pull loads it through the same gate.
"""

# The wake-up: each Redis message becomes an asset event; waiting events coalesce into one run.
COMPLETION_EVENTS = Asset(
    name="audit.lms_completion_events",
    uri="postgres://warehouse:5432/credsync/audit/lms_completion_events",
    group="credsync",
    watchers=[AssetWatcher(
        name="completion_events_redis",
        trigger=MessageQueueTrigger(scheme="redis+pubsub", channels=[CHANNEL], redis_conn_id=REDIS_CONN_ID,
                                    poll_interval=0.5),
    )],
)


@task_group
def process_tenant(tenant_id: str) -> None:
    """One tenant's events; a mapped group, so a refused batch stops only its own tenant."""
    merged = ingest(tenant_id)
    deliver(tenant_id, merged, issue(tenant_id, merged))


@dag(
    dag_id="completion_events",
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("*/5 * * * *", timezone="UTC"),
                                 assets=COMPLETION_EVENTS),
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retry_delay": timedelta(seconds=10)},
    dagrun_timeout=timedelta(minutes=30),
    doc_md=DOC,
    tags=["credsync", "learning", "events"],
    params={
        "max_quarantine_share": Param(0.05, type="number", minimum=0, maximum=0.5,
                                      description="Block a batch when more than this share of it is bad"),
        "min_batch_size": Param(20, type="integer", minimum=0,
                                description="Share thresholds apply only to batches of at least this many records"),
    },
)
def completion_events() -> None:
    tenants = tenants_with_events()
    check_warehouse_schema() >> tenants
    process_tenant.expand(tenant_id=tenants)


completion_events()
