"""LRS sandbox configuration, read once from the environment at start."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SeedPlan:
    workers: int
    seed: int
    # Completions of the quarter hour before the seeding (sandbox.synth.learning.iter_live_statements).
    live: int = 0


#: Behaviours of real LRSs the spec does not have, switched on by ``SANDBOX_LRS_QUIRKS`` (comma list),
#: each seen in Ralph (ralph-malph 5.1): so tests meet them here too, not only against Ralph.
QUIRKS = {
    "since_on_timestamp": "since/until filter on the statement's timestamp, not on stored",
    "no_consistent_through": "no X-Experience-API-Consistent-Through header",
    "descending_pages": "each page newest-first, even with ascending=true",
}


@dataclass(frozen=True)
class LrsSettings:
    """Environment:

    - ``SANDBOX_LRS_CREDENTIALS`` (required): ``{"acme": ["key", "secret"]}``, HTTP Basic per tenant.
    - ``SANDBOX_LMS_TOKENS`` (required): ``{"acme": "token"}``, Bearer for the LMS REST export.
    - ``SANDBOX_DATA_DIR``: state directory (default ``build/sandbox``); data in ``<dir>/lrs/lrs.sqlite``.
    - ``SANDBOX_LRS_CONSISTENCY_LAG_S``: seconds ``X-Experience-API-Consistent-Through`` trails now (0).
    - ``SANDBOX_LRS_MAX_LIMIT``: page size for ``limit=0`` and the cap on larger limits (500).
    - ``SANDBOX_SEED``: ``{"tenants": {"acme": {"workers": 1000, "seed": 7}}}`` seeds empty tenants at start;
      ``"live": N`` adds N completions of the quarter hour before the seeding (timestamps from the clock).
    - ``SANDBOX_LRS_QUIRKS``: comma list of :data:`QUIRKS` (e.g. ``since_on_timestamp,descending_pages``).
    """

    credentials: dict[str, tuple[str, str]]
    lms_tokens: dict[str, str]
    data_dir: Path
    consistency_lag_s: float = 0.0
    max_limit: int = 500
    seed_plans: dict[str, SeedPlan] = field(default_factory=dict)
    quirks: frozenset[str] = frozenset()

    @property
    def database_path(self) -> Path:
        return self.data_dir / "lrs" / "lrs.sqlite"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> LrsSettings:
        env = os.environ if environ is None else environ
        credentials = _json_env(env, "SANDBOX_LRS_CREDENTIALS", required=True)
        if not isinstance(credentials, dict) or not all(
            isinstance(v, list | tuple) and len(v) == 2 and all(isinstance(p, str) and p for p in v)
            for v in credentials.values()
        ):
            raise RuntimeError('SANDBOX_LRS_CREDENTIALS must look like {"acme": ["key", "secret"]}')
        tokens = _json_env(env, "SANDBOX_LMS_TOKENS", required=True)
        if not isinstance(tokens, dict) or not all(isinstance(v, str) and v for v in tokens.values()):
            raise RuntimeError('SANDBOX_LMS_TOKENS must look like {"acme": "token"}')
        seed = _json_env(env, "SANDBOX_SEED", required=False) or {}
        plans = {
            tenant: SeedPlan(workers=int(spec["workers"]), seed=int(spec.get("seed", 1)),
                             live=int(spec.get("live", 0)))
            for tenant, spec in (seed.get("tenants") or {}).items()
        }
        max_limit = int(env.get("SANDBOX_LRS_MAX_LIMIT") or 500)
        if max_limit < 1:
            raise RuntimeError("SANDBOX_LRS_MAX_LIMIT must be at least 1")
        quirks = frozenset(q.strip() for q in (env.get("SANDBOX_LRS_QUIRKS") or "").split(",") if q.strip())
        if quirks - QUIRKS.keys():
            raise RuntimeError(f"SANDBOX_LRS_QUIRKS: unknown {sorted(quirks - QUIRKS.keys())}; known: {sorted(QUIRKS)}")
        return cls(
            quirks=quirks,
            credentials={tenant: (pair[0], pair[1]) for tenant, pair in credentials.items()},
            lms_tokens=dict(tokens),
            data_dir=Path(env.get("SANDBOX_DATA_DIR") or "build/sandbox"),
            consistency_lag_s=float(env.get("SANDBOX_LRS_CONSISTENCY_LAG_S") or 0),
            max_limit=max_limit,
            seed_plans=plans,
        )


def _json_env(env: Any, name: str, *, required: bool) -> Any:
    raw = env.get(name, "")
    if not raw:
        if required:
            # An LRS without auth would let a pipeline that forgot credentials "pass".
            raise RuntimeError(f"{name} is not set: the LRS sandbox refuses to serve without it")
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RuntimeError(f"{name} is not valid JSON: {exc}") from exc
