"""The committed GX suites are what the shipped thresholds produce.

Gates never write ``great_expectations/``: a run whose expectations match the committed suite
validates with it as committed, any other run says in its log that its thresholds differ. So when a
threshold file (include/quality/*.yaml, include/recon.yaml) or an expectation changes, the
committed suite changes in the same commit, reviewed like any other diff. To rewrite them:

    CREDSYNC_WRITE_SUITES=1 .venv/bin/python -m pytest tests/unit/test_committed_suites.py
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest

from credsync.quality.gate import SUITES_DIR, committed_suite, same_expectations


def _hris() -> tuple[str, list[Any]]:
    from credsync.people.quality import load_thresholds, worker_expectations

    thresholds = load_thresholds()
    return thresholds.suite_name, worker_expectations(thresholds)


def _lms() -> tuple[str, list[Any]]:
    from credsync.learning.quality import CompletionGateThresholds, completion_expectations

    thresholds = CompletionGateThresholds()
    return thresholds.suite_name, completion_expectations(thresholds)


def _recon() -> tuple[str, list[Any]]:
    from credsync.recon.config import load_recon_config
    from credsync.recon.gate import SUITE_NAME, expectations

    return SUITE_NAME, expectations(load_recon_config())


def _idp() -> tuple[str, list[Any]]:
    from credsync.groups.idp_ingest import SUITE_NAME, claim_expectations

    return SUITE_NAME, claim_expectations()


def _definitions() -> tuple[str, list[Any]]:
    from credsync.definitions.quality import SUITE_NAME, definition_expectations

    return SUITE_NAME, definition_expectations()


def _national_lrs() -> tuple[str, list[Any]]:
    from credsync.national.quality import SUITE_NAME, statement_expectations

    return SUITE_NAME, statement_expectations()


def _marketplace() -> tuple[str, list[Any]]:
    from credsync.marketplace.quality import SUITE_NAME, export_expectations

    return SUITE_NAME, export_expectations()


@pytest.mark.parametrize("shipped", [_hris, _lms, _recon, _idp, _definitions, _national_lrs, _marketplace],
                         ids=["hris_workers", "lms_completions", "recon_run", "idp_claims", "credential_definitions",
                              "national_lrs_statements", "marketplace_export"])
def test_committed_suite_matches_the_shipped_thresholds(shipped: Callable[[], tuple[str, list[Any]]]) -> None:
    import great_expectations as gx

    name, items = shipped()
    committed = committed_suite(name)
    if os.environ.get("CREDSYNC_WRITE_SUITES") and (committed is None or not same_expectations(committed.expectations,
                                                                                                 items)):
        suite = gx.ExpectationSuite(name=name, expectations=items, id=committed.id if committed else None)
        text = json.dumps(suite.to_json_dict(), indent=2, sort_keys=True)
        (SUITES_DIR / f"{name}.json").write_text(text, encoding="utf-8")
        committed = committed_suite(name)
    assert committed is not None, f"no committed suite {SUITES_DIR / name}.json"
    assert same_expectations(committed.expectations, items), (
        f"great_expectations/expectations/{name}.json differs from what the shipped thresholds produce; "
        "rewrite it with CREDSYNC_WRITE_SUITES=1 (see this module's docstring) and review the diff")
