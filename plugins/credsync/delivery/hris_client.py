"""The HRIS write-back endpoints (docs/architecture.md, HRIS section), plain Python over requests.

``PUT /api/v1/tenants/{t}/workers/{employee_id}/certifications/{credential_type}`` and
``PUT /api/v1/tenants/{t}/workers/{employee_id}/payroll-flags/{flag}``; both are
upserts, so re-sending the same body is harmless. Bearer token per tenant.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from credsync.delivery.config import RetryPolicy
from credsync.delivery.http_retry import Answer, send_with_retry

TARGET_PATHS = {"hris_profile": "certifications", "payroll_flag": "payroll-flags"}


@dataclass(frozen=True)
class HrisTarget:
    """Where one tenant's HRIS is; ``token`` never appears in repr/logs."""

    base_url: str
    tenant_id: str
    token: str = field(repr=False)


class HrisWritebackClient:
    """Writes certification status and payroll flags onto HRIS worker profiles."""

    def __init__(self, target: HrisTarget, *, policy: RetryPolicy | None = None, timeout_seconds: float = 10.0,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self.target = target
        self.policy = policy or RetryPolicy()
        self.timeout = (min(5.0, timeout_seconds), timeout_seconds)
        self.session = session or requests.Session()
        self._sleep = sleep
        self._rng = random.Random()  # noqa: S311 - jitter, not security

    def put(self, target: str, employee_id: str, key: str, payload: dict[str, Any]) -> Answer:
        """PUT one write-back (``target`` is hris_profile or payroll_flag); the final answer, any status.

        Raises ServiceUnavailable when 429/5xx/timeouts outlast the retry budget.
        """
        path = (f"/api/v1/tenants/{quote(self.target.tenant_id, safe='')}/workers/"
                f"{quote(employee_id, safe='')}/{TARGET_PATHS[target]}/{quote(key, safe='')}")
        return send_with_retry(
            self.session, "PUT", self.target.base_url.rstrip("/") + path, path=path, policy=self.policy,
            timeout=self.timeout, sleep=self._sleep, rng=self._rng, service="hris",
            json=payload, headers={"Authorization": f"Bearer {self.target.token}"})
