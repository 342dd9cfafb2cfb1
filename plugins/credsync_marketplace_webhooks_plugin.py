"""Airflow plugin: the api-server serves the talent marketplace's member webhooks (member.updated / deleted).

At ``/credsync-marketplace/marketplace/<tenant>/webhooks``; the marketplace signs each delivery with the
secret in the tenant's marketplace Connection extra ``webhook_secret``. What it does and which
Connections it reads: credsync.marketplace.webhooks_app.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from credsync.marketplace.webhooks_app import URL_PREFIX, create_app


class CredsyncMarketplaceWebhooksPlugin(AirflowPlugin):
    name = "credsync_marketplace_webhooks"
    fastapi_apps = [{"name": "credsync marketplace webhooks", "app": create_app(), "url_prefix": URL_PREFIX}]
