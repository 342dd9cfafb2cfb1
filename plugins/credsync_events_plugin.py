"""Airflow plugin: the api-server serves the LMS completion webhook receiver at
``/credsync-events/lms/<tenant>/completions`` (what it does: credsync.events.app)."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from credsync.events.app import create_app


class CredsyncEventsPlugin(AirflowPlugin):
    name = "credsync_events"
    fastapi_apps = [
        {"name": "credsync LMS completion events", "app": create_app(), "url_prefix": "/credsync-events"},
    ]
