"""Airflow plugin: credsync's on-call pages in the Airflow UI (dashboards, findings, Data Docs).

The api-server mounts the FastAPI app of :mod:`credsync.ui.app` at ``/credsync-ui``; the nav entry
"credsync dashboards" (Browse) shows ``/credsync-ui/dashboards`` inside the UI. The app reads the
warehouse (Connection ``credsync_warehouse``) and the Data Docs store only when a page is opened.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from credsync.ui.app import URL_PREFIX, create_app


class CredsyncUiPlugin(AirflowPlugin):
    name = "credsync_ui"
    fastapi_apps = [{"name": "credsync on call", "app": create_app(), "url_prefix": URL_PREFIX}]
    external_views = [{
        "name": "credsync dashboards",
        # No leading slash: relative to the UI's base, so a deployment under a path prefix works.
        "href": URL_PREFIX.lstrip("/") + "/dashboards",
        "destination": "nav",
        "category": "browse",
        "url_route": "credsync-dashboards",
    }]
