"""Data Docs in the object store: GX builds one validation's site in a temporary folder, this copies it out.

Store: ``CREDSYNC_DATA_DOCS_STORE`` if set, else ``$CREDSYNC_OBJECT_STORE/data_docs`` (any
``ObjectStoragePath`` URL; see :mod:`credsync.objects`). A tenant's pages live under
``<store>/<tenant>/`` in GX's own site layout, so relative links between pages keep working::

    <store>/acme/validations/<suite>/<run>/<time>/<batch>.html   one page per validation, never rewritten
    <store>/acme/expectations/<suite>.html                      the suite as last validated
    <store>/acme/index.html                                     the tenant's latest validation
    <store>/acme/static/…                                       GX's stylesheets and scripts (copied once)

Offline: GX's pages load jQuery, Bootstrap and bootstrap-table from CDNs and build their tables in
the browser, so without a network they render blank. Every published page is rewritten to load the
local copies in ``data_docs_assets/vendor/`` (published to ``<store>/<tenant>/static/credsync/``) and
``offline.css``, which marks failed expectations in words and colour (GX uses CDN icons only).

Link: ``audit.batches.data_docs_url`` carries the page's store URL (``file://…`` in the demo). A
bucket is not a web server, so what a person opens (:func:`page_link`, the gate's message) is, in
order: ``CREDSYNC_DATA_DOCS_URL`` (an HTTP front on the store: a static website, CloudFront, a
signed-URL proxy) + the page's path; else the Airflow api-server's ``[api] base_url`` +
``/credsync-ui/data-docs/<tenant>/<page>`` (the credsync UI plugin serves the store, behind Airflow's
login); else the store URL itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

from credsync.objects import open_path, store_url

FOLDER = "data_docs"
STORE_ENV = "CREDSYNC_DATA_DOCS_STORE"
PUBLIC_URL_ENV = "CREDSYNC_DATA_DOCS_URL"
#: GX's assets are identical for every validation: copied when missing or changed in size only.
STATIC_FOLDER = "static/"
#: Where the UI plugin (plugins/credsync_ui_plugin.py) serves the store: <api base_url><UI_DOCS_PATH><tenant>/….
UI_DOCS_PATH = "/credsync-ui/data-docs/"
ASSETS_DIR = Path(__file__).with_name("data_docs_assets")
#: The local copies' folder in a published site.
OFFLINE_FOLDER = "static/credsync/"
#: CDN files GX's templates load → the local copy (None: dropped, nothing on a validation page needs it).
CDN_FILES: tuple[tuple[str, str | None], ...] = (
    (r"jquery[-.0-9]*(\.min)?\.js", "vendor/jquery-3.7.1.min.js"),
    (r"popper(\.js)?/.*popper(\.min)?\.js", "vendor/popper-1.12.9.min.js"),
    (r"bootstrap-table-filter-control(\.min)?\.js", "vendor/bootstrap-table-filter-control-1.19.1.min.js"),
    (r"bootstrap-table-filter-control(\.min)?\.css", "vendor/bootstrap-table-filter-control-1.19.1.min.css"),
    (r"bootstrap-table(\.min)?\.js", "vendor/bootstrap-table-1.19.1.min.js"),
    (r"bootstrap-table(\.min)?\.css", "vendor/bootstrap-table-1.19.1.min.css"),
    (r"bootstrap-datepicker(\.min)?\.js", "vendor/bootstrap-datepicker-1.9.0.min.js"),
    (r"bootstrap-datepicker(\.min)?\.css", "vendor/bootstrap-datepicker-1.9.0.min.css"),
    (r"bootstrap-prefers-dark\.css", None),
    (r"bootstrap(\.min)?\.js", "vendor/bootstrap-4.3.1.min.js"),
    (r"bootstrap(\.min)?\.css", "vendor/bootstrap-4.3.1.min.css"),
    (r".*", None),  # vega, font-awesome: not needed to read a validation
)
_EXTERNAL_TAG = re.compile(
    r"""<script\b[^>]*\bsrc=["'](?P<src>https?://[^"']+)["'][^>]*>\s*</script>"""
    r"""|<link\b[^>]*\bhref=["'](?P<href>https?://[^"']+)["'][^>]*/?>""", re.IGNORECASE)


def store_url_from_env() -> str | None:
    """The Data Docs store URL the environment configures, or None (Data Docs are then not built)."""
    return store_url(FOLDER, STORE_ENV)


def publish_site(site_dir: Path, page: Path, store: str, tenant_id: str) -> str:
    """Copy the site built in ``site_dir`` to ``<store>/<tenant_id>/``; the link to ``page`` in it.

    HTML pages are rewritten to work offline (:func:`offline_html`); the local copies of the assets
    go along under ``static/credsync/``.
    """
    root = open_path(store) / tenant_id
    files = [(path.relative_to(site_dir).as_posix(), path) for path in sorted(site_dir.rglob("*")) if path.is_file()]
    files += [(OFFLINE_FOLDER + path.relative_to(ASSETS_DIR).as_posix(), path)
              for path in sorted(ASSETS_DIR.rglob("*")) if path.is_file() and path.suffix in (".js", ".css")]
    for relative, source in files:
        target = root / relative
        if relative.startswith(STATIC_FOLDER) and target.exists() and target.stat().st_size == source.stat().st_size:
            continue
        data = source.read_bytes()
        if source.suffix == ".html":
            data = offline_html(data.decode("utf-8"), depth=relative.count("/")).encode("utf-8")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    relative_page = page.relative_to(site_dir).as_posix()
    public = os.environ.get(PUBLIC_URL_ENV, "").strip()
    if public:
        return f"{public.rstrip('/')}/{quote(tenant_id)}/{quote(relative_page)}"
    return str(root / relative_page)


def offline_html(text: str, *, depth: int) -> str:
    """A GX page that needs no network: CDN scripts and styles → the local copies, plus ``offline.css``.

    ``depth`` is how many folders below the tenant's site root the page sits (for relative links).
    """
    prefix = "../" * depth + OFFLINE_FOLDER

    def local(match: re.Match[str]) -> str:
        url = match.group("src") or match.group("href")
        name = url.rsplit("/", 1)[-1] if "popper" not in url else url
        copy = next(target for pattern, target in CDN_FILES if re.search(pattern + "$", name))
        if copy is None:
            return ""
        if match.group("src"):
            return f'<script src="{prefix}{copy}"></script>'
        return f'<link rel="stylesheet" href="{prefix}{copy}">'

    text = _EXTERNAL_TAG.sub(local, text)
    marker = f'<link rel="stylesheet" href="{prefix}offline.css">'
    return text.replace("</head>", marker + "</head>", 1) if "</head>" in text else marker + text


def store_path(store_page_url: str) -> str | None:
    """``<tenant>/<page>`` of a page URL in the configured store; None when it is not in it."""
    store = store_url_from_env()
    if not store:
        return None
    root = str(open_path(store)).rstrip("/") + "/"
    return store_page_url[len(root):] if store_page_url.startswith(root) else None


def page_link(store_page_url: str | None, tenant_id: str) -> str | None:
    """The URL a person opens for a Data Docs page stored at ``store_page_url`` (see the module doc)."""
    if not store_page_url:
        return None
    relative = store_path(store_page_url)
    if relative is None or not relative.startswith(f"{tenant_id}/"):
        return store_page_url  # already a public front's URL, or a store this process does not know
    base = _api_base_url()
    if base:
        return f"{base.rstrip('/')}{UI_DOCS_PATH}{quote(relative)}"
    return store_page_url


def _api_base_url() -> str | None:
    """Airflow's ``[api] base_url`` (where people open the UI), or None when unset."""
    try:
        from airflow.configuration import conf

        return (conf.get("api", "base_url", fallback="") or "").strip() or None
    except Exception:  # outside Airflow (plain scripts, unit tests): no UI to link to
        return None
