"""The warehouse connection through the Postgres provider: Connection fields and extras → libpq conninfo.

Provider style: a matrix of Connections, ``BaseHook.get_connection`` patched to return each, the URL
``url_from_connection`` builds parsed back by libpq (``conninfo_to_dict``) and compared with what
``PostgresHook.get_conn`` itself hands psycopg.
"""

from __future__ import annotations

import json
from unittest import mock

import pytest
from airflow.sdk import Connection
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from credsync.warehouse import sqlalchemy_url, url_from_connection

GET_CONNECTION = "airflow.sdk.bases.hook.BaseHook.get_connection"

# (id, Connection fields, libpq parameters the URL must give)
CASES = [
    ("tcp", dict(host="db.example.com", port=6432, schema="credsync", login="etl", password="pw"),
     {"host": "db.example.com", "port": "6432", "dbname": "credsync", "user": "etl", "password": "pw"}),
    ("socket-dir", dict(host="/var/run/postgresql", port=5433, schema="credsync", login="etl"),
     {"host": "/var/run/postgresql", "port": "5433", "dbname": "credsync", "user": "etl"}),
    ("socket-dir-with-space-no-port", dict(host="/tmp/pg sock", schema="cred sync", login="etl"),
     {"host": "/tmp/pg sock", "dbname": "cred sync", "user": "etl"}),
    ("no-schema-is-libpq-default", dict(host="db", login="etl", password="pw"),
     {"host": "db", "user": "etl", "password": "pw"}),
    ("special-characters", dict(host="db", port=5432, schema="credsync", login="etl@corp",
                                password="p@ss:w/rd%?#&= +'\\"),
     {"host": "db", "port": "5432", "dbname": "credsync", "user": "etl@corp", "password": "p@ss:w/rd%?#&= +'\\"}),
    ("ipv6", dict(host="::1", port=5432, schema="credsync", login="etl"),
     {"host": "::1", "port": "5432", "dbname": "credsync", "user": "etl"}),
    ("several-hosts", dict(host="db1.example.com,db2.example.com", port=5432, schema="credsync", login="etl",
                           extra=json.dumps({"target_session_attrs": "read-write"})),
     {"host": "db1.example.com,db2.example.com", "port": "5432", "dbname": "credsync", "user": "etl",
      "target_session_attrs": "read-write"}),
    ("tls-and-session-extras", dict(host="db.example.com", port=5432, schema="credsync", login="etl",
                                    password="pw", extra=json.dumps({
                                        "sslmode": "require", "sslrootcert": "/etc/ssl/certs/warehouse-ca.pem",
                                        "sslcert": "/secrets/client.crt", "sslkey": "/secrets/client.key",
                                        "application_name": "credsync etl", "connect_timeout": 10,
                                        "options": "-c statement_timeout=5min -c search_path=core,public"})),
     {"host": "db.example.com", "port": "5432", "dbname": "credsync", "user": "etl", "password": "pw",
      "sslmode": "require", "sslrootcert": "/etc/ssl/certs/warehouse-ca.pem", "sslcert": "/secrets/client.crt",
      "sslkey": "/secrets/client.key", "application_name": "credsync etl", "connect_timeout": "10",
      "options": "-c statement_timeout=5min -c search_path=core,public"}),
    ("provider-only-extras-stay-out", dict(host="db", schema="credsync", login="etl", extra=json.dumps({
        "sslmode": "verify-full", "cursor": "dictcursor", "sqlalchemy_scheme": "postgresql+psycopg",
        "aws_conn_id": "aws_default"})),
     {"host": "db", "dbname": "credsync", "user": "etl", "sslmode": "verify-full"}),
]


def connection(**fields) -> Connection:
    return Connection(conn_id="credsync_warehouse", conn_type="postgres", **fields)


def sqlalchemy_connect_args(url: str) -> dict[str, str]:
    """What SQLAlchemy's psycopg dialect would pass ``psycopg.connect`` for ``url`` (without connecting)."""
    from sqlalchemy import create_engine

    engine = create_engine(sqlalchemy_url(url))
    try:
        _, kwargs = engine.dialect.create_connect_args(engine.url)
    finally:
        engine.dispose()
    return {k: str(v) for k, v in kwargs.items() if k != "context"}  # context: psycopg's type adapters


@pytest.mark.parametrize(("fields", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_connection_becomes_the_libpq_conninfo(fields, expected):
    with mock.patch(GET_CONNECTION, return_value=connection(**fields)):
        url = url_from_connection("credsync_warehouse")
    assert conninfo_to_dict(url) == expected


@pytest.mark.parametrize("fields", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_url_connects_with_what_the_provider_would(fields):
    """The URL carries exactly the parameters ``PostgresHook.get_conn`` passes psycopg (bar its row factory)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    with mock.patch(GET_CONNECTION, return_value=connection(**fields)):
        url = url_from_connection("credsync_warehouse")
        with mock.patch("psycopg.connection.Connection.connect") as provider_connect:
            PostgresHook(postgres_conn_id="credsync_warehouse").get_conn()
    provider_args = {k: v for k, v in provider_connect.call_args.kwargs.items() if k != "row_factory"}
    assert conninfo_to_dict(url) == conninfo_to_dict(make_conninfo(**provider_args))


def test_sqlalchemy_passes_the_extras_on_to_psycopg():
    """Alembic and the GX gate connect through SQLAlchemy: the extras must survive that hop too."""
    fields, expected = next(c[1:] for c in CASES if c[0] == "tls-and-session-extras")
    with mock.patch(GET_CONNECTION, return_value=connection(**fields)):
        url = url_from_connection("credsync_warehouse")
    assert sqlalchemy_connect_args(url) == expected


def test_socket_dir_survives_sqlalchemy():
    with mock.patch(GET_CONNECTION, return_value=connection(host="/tmp/pg sock", port=5433, schema="credsync",
                                                            login="etl", password="p@ss/w")):
        url = url_from_connection("credsync_warehouse")
    assert sqlalchemy_connect_args(url) == {"host": "/tmp/pg sock", "port": "5433", "dbname": "credsync",
                                            "user": "etl", "password": "p@ss/w"}


def test_boolean_extras_become_what_libpq_reads():
    with mock.patch(GET_CONNECTION, return_value=connection(host="db", schema="credsync", login="etl",
                                                            extra=json.dumps({"keepalives": True,
                                                                              "gssencmode": "disable"}))):
        url = url_from_connection("credsync_warehouse")
    # The provider would hand psycopg True, which libpq refuses ("invalid integer value").
    assert conninfo_to_dict(url)["keepalives"] == "1"


def test_connection_from_an_airflow_conn_uri_env_var(monkeypatch):
    """A deployment's ``AIRFLOW_CONN_CREDSYNC_WAREHOUSE`` URI: its query string is the extras."""
    monkeypatch.setenv("AIRFLOW_CONN_CREDSYNC_WAREHOUSE",
                       "postgres://etl:p%40ss%2Fw@db.example.com:6432/credsync"
                       "?sslmode=require&application_name=credsync&connect_timeout=5")
    assert conninfo_to_dict(url_from_connection()) == {
        "host": "db.example.com", "port": "6432", "dbname": "credsync", "user": "etl", "password": "p@ss/w",
        "sslmode": "require", "application_name": "credsync", "connect_timeout": "5"}


def test_connection_from_an_airflow_conn_json_env_var(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CREDSYNC_WAREHOUSE", json.dumps({
        "conn_type": "postgres", "host": "/run/postgresql", "schema": "credsync", "login": "etl",
        "extra": {"sslmode": "disable", "options": "-c lock_timeout=10s"}}))
    assert conninfo_to_dict(url_from_connection()) == {
        "host": "/run/postgresql", "dbname": "credsync", "user": "etl", "sslmode": "disable",
        "options": "-c lock_timeout=10s"}
