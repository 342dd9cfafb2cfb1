"""Every on-call section of docs/runbook.md and of the README's *On call* has a test that runs it.

``test_real_airflow.py`` runs the Airflow steps against a real Airflow; each of its tests names
the sections it executes with ``@pytest.mark.runbook``. Sections whose procedure is not an
Airflow action (a CLI over the warehouse, a property of the webhook receiver, a cluster fault)
are run by the test named in :data:`ELSEWHERE`, which must exist. A new section with neither
fails here, and so does a marker naming a section the docs no longer have.
"""

from __future__ import annotations

import pytest

from tests.oncall import docs, test_real_airflow

# Sections run by other suites (what they drive is not an Airflow REST/CLI step, or needs a cluster
# or a browser): section -> the test file that executes its procedure.
ELSEWHERE = {
    "runbook:lms-completion-events-completion_events-credsync-events":
        "tests/integration/events/test_completion_events.py",
    "runbook:retention-retention-dag-auditretention_runs-mappingerror-rule-retention_policy":
        "tests/integration/governance/test_retention.py",
    "runbook:audit-payload-tombstones-auditpayloads_redacted-break-kind-tombstone":
        "tests/integration/audit/test_redact.py",
    "runbook:erasure-requests-erasure-audit-worker_erased--worker_pseudonymised-python--m-credsyncgovernance-reidentify":
        "tests/integration/governance/test_erasure.py",
    "runbook:national-lrs-nelc-national_lrs-task-forward_statements":
        "tests/integration/national/test_nelc_forward.py",
    "runbook:talent-marketplace-sync-marketplace_sync-tasks-initial_sync-events-reconcile":
        "tests/integration/marketplace/test_marketplace_sync.py",
    "runbook:marketplace-webhooks-refused-401-400-404-409-413":
        "tests/integration/marketplace/test_marketplace_webhooks.py",
    "runbook:career-path-eligibility-career_path_eligibility-career_path_approval":
        "tests/integration/careers/test_career_path_eligibility.py",
    "runbook:registry-notifications-refused-or-rejected-notify_registry-dead-letters-registry_notification":
        "tests/integration/delivery/test_notifications.py",
    "runbook:hris-webhooks-refused-401-413-400": "tests/integration/people/test_webhook_limits.py",
    "runbook:identity-conflict-scim_provisioning": "tests/integration/people/test_identity_conflicts.py",
    "runbook:audit-chain-verification-python--m-credsyncaudit-verify":
        "tests/integration/audit/test_tamper_detection.py",
    "runbook:transient-http-failures-every-outside-call": "tests/integration/people/test_midbody_resets.py",
    "runbook:csv-files-credsync-writes-formula-injection": "tests/unit/test_csv_safe.py",
    "runbook:a-worker-quarantined-by-a-mapping-rule-auditquarantinerule": "tests/integration/test_bad_input_corpus.py",
    "runbook:quarantined-learning-records-lms_completion_pull": "tests/integration/test_bad_input_corpus.py",
    "runbook:lrs-pulls-late-statements-late-voids-poison-pills-an-lrs-that-fails-lms_completion_pull":
        "tests/e2e/test_late_void.py",
    "runbook:schema-behind-the-code-check_warehouse_schema-webhook-503-schema_behind":
        "tests/integration/test_schema_revision.py",
    "runbook:a-lost-celery-worker-machine-died-oom-kill-kill--9": "tests/distributed/test_celery_run.py",
    "runbook:gx-data-docs-every-gate": "tests/browser/test_data_docs_offline.py",
    "runbook:dashboards-in-the-airflow-ui-credsync-dashboards": "tests/browser/test_dashboards.py",
    "runbook:browser-tests-testsbrowser": "tests/browser/test_browser_requirements.py",
    "runbook:the-bad-input-corpus-testscorpus": "tests/integration/test_bad_input_corpus.py",
    "runbook:credential-keys-and-status-lists-credential_issuance-python--m-credsynccredentials":
        "tests/integration/credentials/test_trusted_credentials.py",
    "runbook:files-in-the-object-store-payroll-csvs-reports-hris-file-drops": "tests/unit/objects/test_store_paths.py",
    "runbook:a-registry-that-refuses-writes-dead-letters-registry_rejected_status-registry_push":
        "tests/e2e/test_demo.py",
    "readme:dashboards": "tests/browser/test_dashboards.py",
    "runbook:provisioning-guards-a-braked-run-a-quarantined-scim-target-a-held-change-scim_provisioning":
        "tests/integration/people/test_provisioning_guards.py",
    "runbook:group-push-scim_provisioning-task-push_groups-idp-claims-compare_groups":
        "tests/integration/people/test_group_push.py",
    "runbook:registry-pull-endpoint-refuses-a-registry-credsync-registry-401--403--429":
        "tests/integration/registry_pull/test_pull_endpoint.py",
    "runbook:credential-definitions-registry-credential_definitions-task-publish_definitions":
        "tests/integration/definitions/test_publish_definitions.py",
    "runbook:residency-residencyviolation-audit-residency_refused": "tests/integration/governance/test_residency.py",
    "runbook:consent-withdrawn-or-missing-registry_push-audit-consent_withdraw-registry_issue_withheld":
        "tests/integration/delivery/test_consent.py",
}
# README steps outside *On call* that the real-Airflow tests run as well.
README_EXTRA = {"readme:make-airflow-dags-start-paused", "readme:deploying-check-and-unpause"}


def documented_sections() -> set[str]:
    return ({f"runbook:{a}" for a in docs.runbook_anchors()}
            | {f"readme:{docs.anchor(name)}" for name in docs.readme_oncall_recipes()})


def executed_sections() -> dict[str, list[str]]:
    """Section -> the real-Airflow tests that execute it (from their ``runbook`` markers)."""
    covered: dict[str, list[str]] = {}
    for name in dir(test_real_airflow):
        function = getattr(test_real_airflow, name)
        if not name.startswith("test_") or not callable(function):
            continue
        for mark in getattr(function, "pytestmark", []):
            if mark.name == "runbook":
                for section in mark.args:
                    covered.setdefault(section, []).append(name)
    return covered


def test_every_documented_on_call_section_has_a_test_that_runs_it() -> None:
    covered = executed_sections()
    uncovered = sorted(s for s in documented_sections() if s not in covered and s not in ELSEWHERE)
    assert uncovered == [], f"on-call sections no test runs (add one, or name its test in ELSEWHERE): {uncovered}"


def test_every_section_a_test_names_is_still_in_the_docs() -> None:
    known = documented_sections() | README_EXTRA
    assert sorted(set(executed_sections()) - known) == []
    assert sorted(set(ELSEWHERE) - documented_sections()) == []


@pytest.mark.parametrize("section", sorted(ELSEWHERE))
def test_the_test_named_for_a_section_exists(section: str) -> None:
    assert (docs.ROOT / ELSEWHERE[section]).is_file(), ELSEWHERE[section]


def test_the_airflow_steps_are_run_against_a_real_airflow() -> None:
    """The sections whose procedure is an Airflow action are covered here, not only elsewhere."""
    covered = executed_sections()
    for section in ("runbook:reconciliation-reconciliation-dag", "runbook:rerun-backfill-replay-read-a-gx-rejection",
                    "runbook:trigger-button-disabled-in-a-dags-trigger-form", "readme:backfill-a-window",
                    "readme:rerun-one-tenants-mapped-task", "readme:replay-dead-letters",
                    "readme:trigger-a-manual-dag-from-the-ui"):
        assert covered.get(section), section
