"""The LRS pull + issuance benchmark at a tiny size: real LRS over HTTP, real Postgres, real GX gate."""

from __future__ import annotations

import pytest

from credsync.warehouse import connect
from credsync_dev.bench.lrs_bench import rss_milestones, run

pytestmark = pytest.mark.slow


def test_tiny_benchmark_accounts_for_every_statement_issues_credentials_and_drops_its_database(
    postgres_server,
) -> None:
    figures = run(statements=500, eligible=100)

    # Every statement the LRS serves is staged once: voided ones are hidden by the LRS (xAPI).
    served = figures["statements_seeded"] - figures["lrs_voided_hidden"]
    assert figures["statements_seeded"] == 500
    assert figures["raw_statements"] == figures["client_statements"] == figures["records_in"] == served
    # ... and ends up in exactly one place.
    assert figures["records_in"] == (figures["completions_merged"] + figures["quarantined"] + figures["held"]
                                     + figures["voiding_statements"])
    assert figures["core_completions"] == figures["completions_merged"] > 0
    assert figures["audit_quarantine"] == figures["quarantined"]
    assert figures["stage_rows_per_s"] > 0 and figures["merge_rows_per_s"] > 0
    # The acceptance ratio is measured against the raw read of the same LRS in this run; each task
    # ran in a process of its own, whose peak RSS is noted (the pull's as it goes: at 1/4, 1/2, 3/4).
    assert figures["pipeline_share_of_raw"] == round(
        figures["pipeline_rows_per_s"] / figures["raw_mean_rows_per_s"], 3) > 0
    assert figures["pipeline_share_of_raw_before"] == round(
        figures["pipeline_rows_per_s"] / figures["raw_rows_per_s"], 3) > 0
    assert figures["raw_after_rows_per_s"] > 0
    pulled = [figures[f"stage_peak_rss_mib_at_{n}"] for n in rss_milestones(500)]
    assert 0 < figures["rss_mib_at_pull_start"] <= pulled[0] <= pulled[-1] <= figures["stage_peak_rss_mib_after_pull"]
    assert figures["stage_peak_rss_mib_after_pull"] <= figures["stage_process_peak_rss_mib"]
    assert figures["gate_process_peak_rss_mib"] > 0 and figures["merge_process_peak_rss_mib"] > 0

    assert figures["credentials_issued"] == figures["credentials_signed"] == 100
    assert figures["issue_signing_s"] <= figures["issue_s"]

    assert figures["database_dropped"]
    with connect(postgres_server.url, autocommit=True) as conn:
        left = conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (figures["database"],)).fetchone()
    assert left[0] == 0
