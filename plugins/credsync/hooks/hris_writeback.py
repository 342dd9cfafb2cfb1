"""HrisWritebackHook: the HRIS write-back endpoints of one tenant (certifications, payroll flags).

Connection (the tenant's ``hris`` connection id from include/tenants.yaml,
conn_type http): ``host`` (or a full URL), ``port``, ``schema``
(``http``/``https``), ``password`` = the tenant's Bearer token. The export
side of the HRIS has its own hook; this one only writes back.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.http.hooks.http import HttpHook

from credsync.delivery.config import load_delivery_settings
from credsync.delivery.hris_client import HrisTarget, HrisWritebackClient


class HrisWritebackHook(HttpHook):
    """Builds an :class:`HrisWritebackClient` for ``tenant_id`` from the connection."""

    conn_name_attr = "hris_conn_id"
    default_conn_name = "hris_default"
    conn_type = "http"
    hook_name = "HRIS write-back"

    def __init__(self, hris_conn_id: str, tenant_id: str, **kwargs: Any) -> None:
        super().__init__(method="PUT", http_conn_id=hris_conn_id, **kwargs)
        self.hris_conn_id = hris_conn_id
        self.tenant_id = tenant_id

    def get_target(self) -> HrisTarget:
        conn = self.get_connection(self.hris_conn_id)
        if not conn.host or not conn.password:
            raise ValueError(f"connection {self.hris_conn_id!r}: host and password (Bearer token) are required")
        base = conn.host if "://" in conn.host else f"{conn.schema or 'http'}://{conn.host}"
        if conn.port:
            base = f"{base.rstrip('/')}:{conn.port}"
        return HrisTarget(base_url=base.rstrip("/"), tenant_id=self.tenant_id, token=conn.password)

    def get_client(self) -> HrisWritebackClient:
        settings = load_delivery_settings()
        return HrisWritebackClient(self.get_target(), policy=settings.registry.retry,
                                   timeout_seconds=settings.writeback.timeout_seconds)
