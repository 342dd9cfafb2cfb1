"""With no Postgres where CREDSYNC_DATABASE_URL points, the project starts its own."""

from credsync.warehouse import connect
from credsync_dev.localenv.postgres import ensure_server


def test_unreachable_configured_url_falls_back_to_embedded_postgres(monkeypatch, tmp_path):
    # Port 1 on loopback: nothing listens there, as on a machine without Postgres.
    monkeypatch.setenv("CREDSYNC_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/postgres")
    server = ensure_server(tmp_path / "pgdata")
    try:
        assert server.embedded
        url = server.create_database("credsync_embedded_probe")
        with connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone()[0] == "credsync_embedded_probe"
        server.drop_database("credsync_embedded_probe")
    finally:
        server.stop()


def test_reachable_configured_url_is_used_as_is(monkeypatch, postgres_server):
    monkeypatch.setenv("CREDSYNC_DATABASE_URL", postgres_server.url)
    server = ensure_server()
    assert not server.embedded
    assert server.url == postgres_server.url
