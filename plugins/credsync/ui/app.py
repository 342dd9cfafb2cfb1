"""The credsync UI app, mounted in the Airflow api-server at ``/credsync-ui`` by the plugin.

Routes (relative links between them, so a proxy prefix keeps working):

- ``GET dashboards[?tenant=T]`` — delivery success, drift per comparison, completion → delivery
  latency, open findings, dead letters and the last gate verdicts; per tenant or overall.
- ``GET findings?tenant=T&type=F`` — drill-down into one kind of open finding.
- ``GET data-docs/<tenant>/<page>`` — GX Data Docs from the object store (``credsync.quality.data_docs``),
  so a gate's link opens in a browser even when the store is a bucket or a worker's ``file://``.

Every route needs an Airflow login (the UI's session cookie or a bearer token from ``/auth/token``)
with access to the Airflow website; the warehouse is read through Connection ``credsync_warehouse``.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, Response

URL_PREFIX = "/credsync-ui"


def _authenticated() -> list[Any]:
    """Airflow's own check (cookie or bearer token → user → may see the website)."""
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import requires_access_view

    return [Depends(requires_access_view(AccessView.WEBSITE))]


def create_app(*, warehouse_url: Any = None, authenticated: bool = True) -> FastAPI:
    """The app; ``warehouse_url`` (a zero-argument callable) defaults to Connection ``credsync_warehouse``.

    ``authenticated=False`` is for tests that mount the app outside an api-server.
    """
    app = FastAPI(title="credsync on call", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=_authenticated() if authenticated else [])
    get_url = warehouse_url or _warehouse_url

    @app.get("/dashboards", response_class=HTMLResponse)
    def dashboards(tenant: str | None = Query(None, max_length=64)) -> HTMLResponse:
        from credsync.quality.data_docs import page_link
        from credsync.ui.pages import dashboard_page
        from credsync.ui.queries import dashboard

        tenants = _tenants()
        if tenant is not None and tenant not in tenants:
            raise HTTPException(404, f"unknown tenant {tenant!r}; enabled: {', '.join(tenants)}")
        data = dashboard(get_url(), tenant)

        def docs_link(url: str, tenant_id: str) -> str | None:
            return _relative_docs_link(page_link(url, tenant_id))

        return HTMLResponse(dashboard_page(data, tenants, docs_link=docs_link))

    @app.get("/findings", response_class=HTMLResponse)
    def findings(tenant: str = Query(..., max_length=64), type: str = Query(..., max_length=100)) -> HTMLResponse:
        from credsync.ui.pages import findings_page
        from credsync.ui.queries import DETAIL_LIMIT, findings_detail

        if tenant not in _tenants():
            raise HTTPException(404, f"unknown tenant {tenant!r}")
        return HTMLResponse(findings_page(tenant, type, findings_detail(get_url(), tenant, type), DETAIL_LIMIT))

    @app.get("/data-docs/{tenant}/{page:path}")
    def data_docs(tenant: str, page: str) -> Response:
        from credsync.objects import open_path
        from credsync.quality.data_docs import store_url_from_env

        store = store_url_from_env()
        parts = page.split("/")
        if not store or tenant not in _tenants() or any(p in ("", ".", "..") for p in parts):
            raise HTTPException(404, "no such Data Docs page")
        path = open_path(store) / tenant
        for part in parts:
            path = path / part
        if not path.is_file():
            raise HTTPException(404, f"no Data Docs page {page!r} for tenant {tenant!r}")
        kind = mimetypes.guess_type(parts[-1])[0] or "application/octet-stream"
        return Response(path.read_bytes(), media_type=kind)

    return app


def _warehouse_url() -> str:
    from credsync.warehouse import url_from_connection

    return url_from_connection()


def _tenants() -> list[str]:
    from credsync.tenants import load_tenants

    return [t.tenant_id for t in load_tenants()]


def _relative_docs_link(link: str | None) -> str | None:
    """A link into this app's own data-docs route, relative to the page (works behind any prefix).

    A store URL (``file://``, ``s3://``) is not something a browser opens: without ``[api] base_url``
    the page still links through this app when the page is in the configured store.
    """
    from credsync.quality.data_docs import UI_DOCS_PATH, store_path

    if link and UI_DOCS_PATH in link:
        return "data-docs/" + link.split(UI_DOCS_PATH, 1)[1]
    relative = store_path(link) if link else None
    return f"data-docs/{relative}" if relative else link
