"""Delivery: registry push, revocation, recertification, HRIS/payroll write-back, dead-letter replay.

Plain modules (no Airflow import at module top) so tests run them without a scheduler:

- :mod:`config` — ``include/delivery.yaml``
- :mod:`payload` — the registry payload, built only from the registry mapping CSV
- :mod:`http_retry` — retries shared by both clients (429 Retry-After, 5xx/timeouts/resets backoff)
- :mod:`registry_client` — OAuth2, idempotency keys, retries against the registry API
- :mod:`submissions` — the pending → sent → acknowledged | dead state machine in SQL
- :mod:`push` — enqueue and push a tenant's submissions in batches
- :mod:`recertification` — expire, revoke, remind
- :mod:`hris_client`, :mod:`writeback` — HRIS profile and payroll flag write-back, payroll CSV
- :mod:`replay` — dead-letter replay through the same idempotent paths
- :mod:`tasks` — the Airflow @task wrappers the delivery DAGs wire (imports airflow.sdk)
"""
