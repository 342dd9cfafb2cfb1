"""Seeding a tenant's learning history from :mod:`sandbox.synth.learning`.

Both synth functions are generators; the store consumes them in fixed-size chunks, so a
million statements seed in bounded memory.
"""

from __future__ import annotations

from typing import Any

from sandbox.lrs.store import LrsStore


def authority_for(tenant: str, key: str) -> dict[str, Any]:
    """The Agent the LRS records as ``authority`` for statements sent with this Basic key."""
    return {
        "objectType": "Agent",
        "name": key,
        "account": {"homePage": f"https://lrs.{tenant}.example", "name": key},
    }


def seed_tenant(store: LrsStore, tenant: str, *, workers: int, seed: int, authority: dict[str, Any]) -> dict[str, int]:
    """Add the synthetic statements and REST completions of ``tenant``; existing ids are kept."""
    # Imported here: the synth package is optional at import time and heavy (Faker).
    from sandbox.synth.learning import iter_rest_completions, iter_statements

    statements = store.store_raw(tenant, iter_statements(tenant, workers, seed), authority=authority)
    completions = store.store_completions(tenant, iter_rest_completions(tenant, workers, seed), replace=False)
    return {"statements": statements, "completions": completions}
