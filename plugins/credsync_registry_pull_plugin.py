"""Airflow plugin: the registry pull endpoint (``credsync.registry_pull``) in the api-server.

Mounted at ``/credsync-registry``; registries authenticate with their own OAuth 2.0 client
credentials (Connection ``credsync_registry_pull``), not with an Airflow login. docs/registry_pull.md.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from credsync.registry_pull.app import URL_PREFIX, create_app


class CredsyncRegistryPullPlugin(AirflowPlugin):
    name = "credsync_registry_pull"
    fastapi_apps = [{"name": "credsync registry pull", "app": create_app(), "url_prefix": URL_PREFIX}]
