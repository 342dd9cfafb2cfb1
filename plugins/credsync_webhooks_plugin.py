"""Airflow plugin: the api-server serves the HRIS webhook receiver at ``/credsync/hris/<tenant>/webhooks``.

The only module of plugins/ Airflow's plugin loader imports (plugins/.airflowignore
keeps it out of the credsync package). What the receiver does and which
Connections it reads: credsync.people.webhook_app. The app is cheap to build;
it touches the warehouse and Connections only when the first webhook arrives.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from credsync.people.webhook_app import create_app


class CredsyncWebhooksPlugin(AirflowPlugin):
    name = "credsync_webhooks"
    fastapi_apps = [
        {"name": "credsync HRIS webhooks", "app": create_app(), "url_prefix": "/credsync"},
    ]
