"""The registry's pull endpoint: a registry fetches a tenant's learners' minimised records.

Seed 000's second registry pattern ("pull-based verification endpoints: the registry fetches
training records"). Mounted in the Airflow api-server by ``plugins/credsync_registry_pull_plugin.py``;
see docs/registry_pull.md.
"""
