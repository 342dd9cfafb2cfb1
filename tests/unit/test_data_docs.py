"""Where Data Docs go and how they are linked (credsync.quality.data_docs); the gate tests run GX itself."""

from __future__ import annotations

from pathlib import Path

from credsync.quality.data_docs import publish_site, store_url_from_env


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
    assert (store / "acme" / page.relative_to(root)).read_text() == "<html>page</html>"
    assert (store / "acme" / "index.html").is_file() and (store / "acme" / "static" / "styles" / "a.css").is_file()


def test_an_http_front_replaces_the_store_url_in_links(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CREDSYNC_DATA_DOCS_URL", "https://dq.example.com/data_docs/")
    root, page = site(tmp_path)
    url = publish_site(root, page, (tmp_path / "store").as_uri(), "acme")
    assert url == ("https://dq.example.com/data_docs/acme/validations/hris_workers/hris_workers%3Aacme%3Ab1/"
                   "20250101T000000Z/p.html")
