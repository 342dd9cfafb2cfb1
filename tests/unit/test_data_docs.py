"""Where Data Docs go and how they are linked (credsync.quality.data_docs); the gate tests run GX itself."""

from __future__ import annotations

from pathlib import Path

from credsync.quality.data_docs import offline_html, page_link, publish_site, store_url_from_env


def test_the_data_docs_store_defaults_to_the_object_store_base(monkeypatch) -> None:
    monkeypatch.delenv("CREDSYNC_DATA_DOCS_STORE", raising=False)
    monkeypatch.delenv("CREDSYNC_OBJECT_STORE", raising=False)
    assert store_url_from_env() is None
    monkeypatch.setenv("CREDSYNC_OBJECT_STORE", "s3://aws_default@bucket/credsync/")
    assert store_url_from_env() == "s3://aws_default@bucket/credsync/data_docs"
    monkeypatch.setenv("CREDSYNC_DATA_DOCS_STORE", "gs://google_cloud_default@dq/docs")
    assert store_url_from_env() == "gs://google_cloud_default@dq/docs"


def site(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "site"
    page = root / "validations" / "hris_workers" / "hris_workers:acme:b1" / "20250101T000000Z" / "p.html"
    for path, text in ((page, "<html>page</html>"), (root / "index.html", "<html>index</html>"),
                       (root / "static" / "styles" / "a.css", "body {}")):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root, page


def test_the_site_is_copied_under_the_tenant_and_the_link_is_the_store_page(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CREDSYNC_DATA_DOCS_URL", raising=False)
    root, page = site(tmp_path)
    store = tmp_path / "store"
    url = publish_site(root, page, store.as_uri(), "acme")
    assert url == f"{store.as_uri()}/acme/{page.relative_to(root).as_posix()}"
    assert (store / "acme" / page.relative_to(root)).read_text().endswith("<html>page</html>")
    assert (store / "acme" / "index.html").is_file() and (store / "acme" / "static" / "styles" / "a.css").is_file()


def test_an_http_front_replaces_the_store_url_in_links(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CREDSYNC_DATA_DOCS_URL", "https://dq.example.com/data_docs/")
    root, page = site(tmp_path)
    url = publish_site(root, page, (tmp_path / "store").as_uri(), "acme")
    assert url == ("https://dq.example.com/data_docs/acme/validations/hris_workers/hris_workers%3Aacme%3Ab1/"
                   "20250101T000000Z/p.html")


GX_HEAD = """<html><head>
<link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>
<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>
<link rel="stylesheet" href="https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css">
<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>
<script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js"></script>
<script src="https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js"></script>
<script src="https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js"></script>
<script src="https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js"></script>
</head><body></body></html>"""


def test_a_published_page_loads_nothing_from_a_cdn() -> None:
    """Offline, GX's CDN scripts never load and its tables (built by bootstrap-table) stay blank."""
    page = offline_html(GX_HEAD, depth=2)
    assert "https://" not in page
    for copy in ("vendor/bootstrap-4.3.1.min.css", "vendor/jquery-3.7.1.min.js", "vendor/popper-1.12.9.min.js",
                 "vendor/bootstrap-table-1.19.1.min.js", "vendor/bootstrap-table-filter-control-1.19.1.min.js",
                 "vendor/bootstrap-datepicker-1.9.0.min.js", "offline.css"):
        assert f'"../../static/credsync/{copy}"' in page, copy
    assert page.index("jquery") < page.index("bootstrap-table-1.19.1.min.js")  # order kept


def test_the_local_copies_are_published_with_the_site(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("CREDSYNC_DATA_DOCS_URL", raising=False)
    root, page = site(tmp_path)
    store = tmp_path / "store"
    publish_site(root, page, store.as_uri(), "acme")
    assert (store / "acme" / "static" / "credsync" / "vendor" / "jquery-3.7.1.min.js").stat().st_size > 50_000
    assert "failed" in (store / "acme" / "static" / "credsync" / "offline.css").read_text()


def test_a_person_gets_an_http_link_to_a_page_in_the_store(tmp_path, monkeypatch) -> None:
    store = (tmp_path / "store").as_uri()
    monkeypatch.setenv("CREDSYNC_DATA_DOCS_STORE", store)
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com")
    stored = f"{store}/acme/validations/s/s:acme:b/t/p.html"
    assert page_link(stored, "acme") == (
        "https://airflow.example.com/credsync-ui/data-docs/acme/validations/s/s%3Aacme%3Ab/t/p.html")
    assert page_link("https://dq.example.com/data_docs/acme/p.html", "acme") == \
        "https://dq.example.com/data_docs/acme/p.html"
    assert page_link(None, "acme") is None
