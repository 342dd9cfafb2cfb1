"""Connection resets in the middle of HRIS and SCIM answers (the sandboxes' ``reset_rate``: the server
does the work, sends status and headers, then cuts the body): every run converges, nothing is duplicated."""

from __future__ import annotations

import logging

import pytest
import requests

from credsync.hooks.hris import HrisHook
from credsync.hooks.scim import ScimHook
from tests.integration.people.test_people_flows import count, export_once, lms_users, provision

pytestmark = pytest.mark.slow
RESETS = 0.2


def faults(url: str, settings: dict | None) -> None:
    if settings is None:
        requests.delete(f"{url}/admin/faults", timeout=10).raise_for_status()
    else:
        requests.put(f"{url}/admin/faults", json=settings, timeout=10).raise_for_status()


def cut_answers(caplog: pytest.LogCaptureFixture) -> int:
    """How many answers the client saw cut mid-body and retried (its retry warnings)."""
    return sum("IncompleteRead" in r.getMessage() for r in caplog.records)


def test_delta_export_under_resets_loads_every_worker_once(people_env, caplog) -> None:
    env = people_env
    caplog.set_level(logging.WARNING, logger="credsync.hooks.transport")
    faults(env.hris_url, {"reset_rate": RESETS, "seed": 5})
    try:  # small pages, so the export is a dozen requests and several answers are cut
        result = export_once(env, open_export=lambda since: HrisHook(f"hris_{env.tenant}", env.tenant).export(
            since, page_size=5))
    finally:
        faults(env.hris_url, None)

    assert cut_answers(caplog) >= 1, "no answer was cut: the test proves nothing"

    workers = count(env, "SELECT count(*) FROM core.workers")
    assert workers == 60 and result["loaded"] == workers, result
    assert export_once(env)["loaded"] == 0, "a rerun after the faulted run found something left to load"


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_provisioning_under_resets_converges_without_duplicate_accounts(people_env, caplog, seed: int) -> None:
    env = people_env
    caplog.set_level(logging.WARNING, logger="credsync")
    export_once(env)
    faults(env.scim_url, {"reset_rate": RESETS, "seed": seed})
    try:
        reports = [provision(env)]  # used to crash on the first cut answer (ChunkedEncodingError)
        while reports[-1]["failed"] and len(reports) < 3:
            reports.append(provision(env))  # a worker whose retries all lost their answer: next run
        settled = provision(env)
    finally:
        faults(env.scim_url, None)

    assert cut_answers(caplog) >= 5, "too few answers were cut for the test to mean anything"
    assert reports[-1]["failed"] == 0, reports
    assert settled["pushed"] == 0 and settled["failed"] == 0, settled
    users = lms_users(env)
    external_ids = [u["externalId"] for u in users]
    assert len(external_ids) == len(set(external_ids)), "a retried create duplicated an LMS user"
    active = count(env, "SELECT count(*) FROM core.workers WHERE employment_status = 'active'")
    assert sum(1 for u in users if u["active"]) == active
    assert count(env, "SELECT count(*) FROM core.learners") == len(users)
    before = env.scim_stats()["writes"]
    assert provision(env)["pushed"] == 0 and env.scim_stats()["writes"] == before



def test_reconciliation_listing_of_scim_users_under_resets_matches_a_clean_one(people_env, monkeypatch) -> None:
    from credsync.hooks import scim as scim_hook
    from credsync.recon import listings

    env = people_env
    export_once(env)
    provision(env)
    monkeypatch.setattr(scim_hook, "PAGE_SIZE", 10)  # several pages per listing, so several get cut
    scim = ScimHook(f"scim_{env.tenant}", env.tenant).client()  # the connection provisioning uses

    def reads() -> int:
        return env.scim_stats()["requests"].get("GET", 0)

    before = reads()
    clean = sorted(listings.scim_users(scim))
    per_listing = reads() - before
    faults(env.scim_url, {"reset_rate": RESETS, "seed": 9})
    try:
        runs = [sorted(listings.scim_users(scim)) for _ in range(3)]  # failed on a cut page
    finally:
        faults(env.scim_url, None)

    assert reads() - before - per_listing > 3 * per_listing, "no page was cut: the test proves nothing"
    assert len(clean) == count(env, "SELECT count(*) FROM core.learners") > 0
    assert all(run == clean for run in runs)
