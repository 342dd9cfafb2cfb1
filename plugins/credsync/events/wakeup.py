"""The wake-up for the ``completion_events`` DAG: one Redis pub/sub message per new event.

The DAG's asset has an ``AssetWatcher`` whose ``MessageQueueTrigger`` (scheme ``redis+pubsub``,
apache-airflow-providers-redis) subscribes to :data:`CHANNEL`; each message it sees becomes an
asset event and the scheduler makes a run of it (several events waiting while a run is busy
make one next run, ``max_active_runs=1``). Pub/sub keeps nothing for a subscriber that is not
listening (triggerer restarting, Redis down): that is why the message carries no data the run
needs, and the DAG's schedule sweeps ``audit.lms_completion_events`` as well.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

CHANNEL = "credsync.completion_events"
REDIS_CONN_ID = "credsync_redis"


def redis_waker(client: Any, channel: str = CHANNEL) -> Callable[[str, str], None]:
    """``wake(tenant_id, event_id)`` publishing on ``channel`` with a ``redis.Redis`` client."""
    def wake(tenant_id: str, event_id: str) -> None:
        client.publish(channel, json.dumps({"tenant_id": tenant_id, "event_id": event_id}))

    return wake


def connection_waker(conn_id: str = REDIS_CONN_ID) -> Callable[[str, str], None]:
    """The waker on the Redis of Connection ``conn_id`` (host, port, password, extra ``db``)."""
    from airflow.providers.redis.hooks.redis import RedisHook

    client = RedisHook(redis_conn_id=conn_id).get_conn()
    # A wake-up must not hold the LMS's request: fail fast, the sweep covers it.
    client.connection_pool.connection_kwargs.update(socket_timeout=2, socket_connect_timeout=2)
    return redis_waker(client)
