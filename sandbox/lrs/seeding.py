"""Seeding a tenant's learning history from :mod:`sandbox.synth.learning`.

Both synth functions are generators; the store consumes them in fixed-size chunks, so a
million statements seed in bounded memory.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sandbox.lrs.store import LrsStore


def authority_for(tenant: str, key: str) -> dict[str, Any]:
    """The Agent the LRS records as ``authority`` for statements sent with this Basic key."""
    return {
        "objectType": "Agent",
        "name": key,
        "account": {"homePage": f"https://lrs.{tenant}.example", "name": key},
    }


def seed_tenant(store: LrsStore, tenant: str, *, workers: int, seed: int, authority: dict[str, Any],
                live: int = 0) -> dict[str, int]:
    """Add the synthetic statements and REST completions of ``tenant``; existing ids are kept.

    ``live`` completions of the quarter hour before now follow the history (xAPI only, the LRS
    stamps them ``stored`` as it takes them): the history is a first load, so without them
    nothing the pipeline delivers has a completion-to-delivery latency to show.
    """
    # Imported here: the synth package is optional at import time and heavy (Faker).
    from sandbox.synth.learning import iter_live_statements, iter_rest_completions, iter_statements

    statements = store.store_raw(tenant, iter_statements(tenant, workers, seed), authority=authority)
    completions = store.store_completions(tenant, iter_rest_completions(tenant, workers, seed), replace=False)
    counts = {"statements": statements, "completions": completions}
    if live:
        counts["live"] = store.store_raw(
            tenant, iter_live_statements(tenant, workers, seed, now=datetime.now(UTC), count=live), authority=authority)
    return counts
