"""LMS completion events: a signed webhook per completion, recorded first, then processed for its learner.

- :mod:`credsync.events.receiver` — the contract and the receiver (verify, record, wake up);
- :mod:`credsync.events.app` — the receiver over HTTP in the api-server (``/credsync-events``);
- :mod:`credsync.events.wakeup` — the Redis message the ``completion_events`` DAG's AssetWatcher
  waits for (a wake-up only: the recorded event is the source of truth);
- :mod:`credsync.events.flow` — what a ``completion_events`` run does per tenant: claim the
  recorded events, stage their completions as one batch, the LMS gate, merge (same keys as the
  scheduled pull), then credentials, registry push and HRIS write-back for the affected learners.
"""
