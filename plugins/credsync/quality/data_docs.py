"""Data Docs in the object store: GX builds one validation's site in a temporary folder, this copies it out.

Store: ``CREDSYNC_DATA_DOCS_STORE`` if set, else ``$CREDSYNC_OBJECT_STORE/data_docs`` (any
``ObjectStoragePath`` URL; see :mod:`credsync.objects`). A tenant's pages live under
``<store>/<tenant>/`` in GX's own site layout, so relative links between pages keep working::

    <store>/acme/validations/<suite>/<run>/<time>/<batch>.html   one page per validation, never rewritten
    <store>/acme/expectations/<suite>.html                      the suite as last validated
    <store>/acme/index.html                                     the tenant's latest validation
    <store>/acme/static/…                                       GX's stylesheets and scripts (copied once)

Link: the gate's message and ``audit.batches.data_docs_url`` carry the page's store URL (``file://…``
in the demo). A bucket is not a web server: a deployment puts an HTTP front on it (a static website,
CloudFront, a signed-URL proxy) and sets ``CREDSYNC_DATA_DOCS_URL`` to the front's address of the
store, which then replaces the store URL in links.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from credsync.objects import open_path, store_url

FOLDER = "data_docs"
STORE_ENV = "CREDSYNC_DATA_DOCS_STORE"
PUBLIC_URL_ENV = "CREDSYNC_DATA_DOCS_URL"
#: GX's assets are identical for every validation: copied when missing or changed in size only.
STATIC_FOLDER = "static/"


def store_url_from_env() -> str | None:
    """The Data Docs store URL the environment configures, or None (Data Docs are then not built)."""
    return store_url(FOLDER, STORE_ENV)


def publish_site(site_dir: Path, page: Path, store: str, tenant_id: str) -> str:
    """Copy the site built in ``site_dir`` to ``<store>/<tenant_id>/``; the link to ``page`` in it."""
    root = open_path(store) / tenant_id
    for source in sorted(path for path in site_dir.rglob("*") if path.is_file()):
        relative = source.relative_to(site_dir).as_posix()
        target = root / relative
        if relative.startswith(STATIC_FOLDER) and target.exists() and target.stat().st_size == source.stat().st_size:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    relative_page = page.relative_to(site_dir).as_posix()
    public = os.environ.get(PUBLIC_URL_ENV, "").strip()
    if public:
        return f"{public.rstrip('/')}/{quote(tenant_id)}/{quote(relative_page)}"
    return str(root / relative_page)
