"""Fixtures shared by the reconciliation tests: an autocommit warehouse connection and a synthetic tenant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from credsync.warehouse import connect
from credsync_dev import synthetic

from .support import TYPES, new_tenant_id

TENANT_AS_OF = datetime(2025, 6, 2, 6, 0, tzinfo=UTC)


@pytest.fixture
def conn(warehouse_url):
    with connect(warehouse_url, autocommit=True) as c:
        yield c


@pytest.fixture
def tenant(conn) -> str:
    """A consistent tenant of 40 workers with TYPES delivered credentials each, as of TENANT_AS_OF."""
    tenant_id = new_tenant_id()
    synthetic.create_tenant(conn, tenant_id, workers=40, types=TYPES, as_of=TENANT_AS_OF)
    return tenant_id
