from pathlib import Path

import pytest

from credsync.recon.compare import FINDING_TYPES
from credsync.recon.config import ReconConfigError, load_recon_config
from credsync.recon.groups import FINDING_TYPES as GROUP_FINDING_TYPES


def test_shipped_config_covers_every_finding_type_with_default_thresholds():
    config = load_recon_config()

    assert set(config.findings) == set(FINDING_TYPES) | set(GROUP_FINDING_TYPES)
    assert (config.max_drift_rate, config.min_delivery_success_rate) == (0.01, 0.99)
    assert config.safe_fix_types == {
        "learner_missing", "learner_active_mismatch", "learner_attribute_drift", "registry_missing",
        "registry_not_revoked", "pay_flag_without_credential", "writeback_missing",
        "group_missing", "group_member_missing", "group_member_unexpected"}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recon.yaml"
    path.write_text(text, encoding="utf-8")
    return path


FINDINGS = "findings:\n  learner_missing: {comparison: hris_lms, severity: low, owner: ops, fix: null}\n"


def test_threshold_outside_zero_to_one_is_rejected_naming_the_field(tmp_path):
    path = _write(tmp_path, "thresholds: {max_drift_rate: 5, min_delivery_success_rate: 0.99}\n" + FINDINGS)

    with pytest.raises(ReconConfigError, match=r"thresholds\.max_drift_rate.*between 0 and 1"):
        load_recon_config(path)


def test_unknown_fix_is_rejected_naming_the_finding_type(tmp_path):
    path = _write(tmp_path, "thresholds: {max_drift_rate: 0.01, min_delivery_success_rate: 0.99}\n"
                  "findings:\n  learner_missing: {comparison: hris_lms, severity: low, owner: ops, fix: delete}\n")

    with pytest.raises(ReconConfigError, match=r"findings\.learner_missing: field 'fix'"):
        load_recon_config(path)


def test_a_relative_report_dir_is_refused_naming_file_and_key(tmp_path):
    """A relative folder would be a different place on every worker (its own working directory)."""
    path = _write(tmp_path, "thresholds: {max_drift_rate: 0.01, min_delivery_success_rate: 0.99}\n"
                  "report_dir: out/reports\n" + FINDINGS)

    with pytest.raises(ReconConfigError, match=r"recon\.yaml: key 'report_dir' 'out/reports' is a relative path"):
        load_recon_config(path)


def test_report_dir_is_a_store_url_or_unset(tmp_path):
    thresholds = "thresholds: {max_drift_rate: 0.01, min_delivery_success_rate: 0.99}\n"
    assert load_recon_config(_write(tmp_path, thresholds + "report_dir: s3://aws_default@b/r\n" + FINDINGS)
                             ).report_dir == "s3://aws_default@b/r"
    assert load_recon_config(_write(tmp_path, thresholds + FINDINGS)).report_dir is None
