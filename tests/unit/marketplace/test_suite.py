"""The committed marketplace_export suite is what credsync.marketplace.quality produces."""

from __future__ import annotations

import json
import os

from credsync.marketplace.quality import SUITE_NAME, export_expectations
from credsync.quality.gate import SUITES_DIR, committed_suite, same_expectations


def test_committed_suite_matches_the_expectations():
    import great_expectations as gx

    items = export_expectations()
    committed = committed_suite(SUITE_NAME)
    if os.environ.get("CREDSYNC_WRITE_SUITES") and (committed is None
                                                    or not same_expectations(committed.expectations, items)):
        suite = gx.ExpectationSuite(name=SUITE_NAME, expectations=items, id=committed.id if committed else None)
        (SUITES_DIR / f"{SUITE_NAME}.json").write_text(json.dumps(suite.to_json_dict(), indent=2, sort_keys=True),
                                                       encoding="utf-8")
        committed = committed_suite(SUITE_NAME)
    assert committed is not None and same_expectations(committed.expectations, items), (
        f"great_expectations/expectations/{SUITE_NAME}.json differs; rewrite with CREDSYNC_WRITE_SUITES=1")
