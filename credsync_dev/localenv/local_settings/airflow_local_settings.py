"""Airflow local settings of the development environment (``make airflow``, the demo, e2e tests).

A deployment that ``pip install``s credsync gets the scheduler policy from the package's
``airflow.policy`` entry point; the development environment runs credsync from ``plugins/`` instead,
so this file (on PYTHONPATH, see ``airflow_env.airflow_base_env``) registers it the way a copy
deployment would.
"""

from credsync.tenant_labels import task_instance_mutation_hook  # noqa: F401  (grid labels of tenant tasks)
