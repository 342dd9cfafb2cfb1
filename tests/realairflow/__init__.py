"""A real Airflow for tests: api-server, scheduler and dag-processor as separate processes (LocalExecutor).

:func:`tests.realairflow.local.local_airflow` starts them on a metadata database of their own,
with the repo's DAGs and plugins and whatever environment the caller hands over (the demo's
connections to the sandboxes and the warehouse).
"""
