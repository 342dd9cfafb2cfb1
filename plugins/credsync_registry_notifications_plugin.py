"""Airflow plugin: the api-server serves the registry notification receiver (acknowledgements, rejections).

At ``/credsync-notifications/registry/<tenant>/notifications``; the registry signs each delivery with
the secret in the tenant's registry Connection extra ``webhook_secret``. What it does and which
Connections it reads: credsync.delivery.notifications_app; docs/registry.md.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from credsync.delivery.notifications_app import URL_PREFIX, create_app


class CredsyncRegistryNotificationsPlugin(AirflowPlugin):
    name = "credsync_registry_notifications"
    fastapi_apps = [{"name": "credsync registry notifications", "app": create_app(), "url_prefix": URL_PREFIX}]
