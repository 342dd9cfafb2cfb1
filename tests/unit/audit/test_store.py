"""Where the checkpoint store is and what happens when none is configured."""

from __future__ import annotations

import logging

from credsync.audit.store import checkpoint_tenant, store_url_from_env


def test_the_explicit_store_wins_over_the_object_store_base(monkeypatch):
    monkeypatch.delenv("CREDSYNC_AUDIT_CHECKPOINT_STORE", raising=False)
    monkeypatch.delenv("CREDSYNC_OBJECT_STORE", raising=False)
    assert store_url_from_env() is None
    monkeypatch.setenv("CREDSYNC_OBJECT_STORE", "s3://aws_default@bucket/credsync/")
    assert store_url_from_env() == "s3://aws_default@bucket/credsync/audit-checkpoints"
    monkeypatch.setenv("CREDSYNC_AUDIT_CHECKPOINT_STORE", "s3://aws_default@worm-bucket/chains")
    assert store_url_from_env() == "s3://aws_default@worm-bucket/chains"


def test_without_a_store_the_task_helper_warns_and_writes_nothing(monkeypatch, caplog):
    monkeypatch.delenv("CREDSYNC_AUDIT_CHECKPOINT_STORE", raising=False)
    monkeypatch.delenv("CREDSYNC_OBJECT_STORE", raising=False)
    with caplog.at_level(logging.WARNING, logger="credsync.audit.store"):
        # No warehouse is touched: the URL is never used.
        assert checkpoint_tenant("postgresql://nowhere.invalid/x", "acme") is None
    assert "audit checkpoints are off" in caplog.text and "acme" in caplog.text
