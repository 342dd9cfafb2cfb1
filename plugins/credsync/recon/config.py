"""Reconciliation settings from include/recon.yaml, validated at load."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from credsync.paths import INCLUDE_DIR

RECON_FILE = INCLUDE_DIR / "recon.yaml"
COMPARISONS = ("hris_lms", "completions_credentials", "credentials_registry", "credentials_hris")
# Comparisons that run as tasks of their own beside compare (credsync.recon.groups), in the same run.
SEPARATE_COMPARISONS = ("scim_groups",)
SEVERITIES = ("low", "medium", "high", "critical")
FIXES = ("requeue_registry_issue", "requeue_registry_revoke", "requeue_learner", "requeue_writeback",
         "requeue_group_push")


class ReconConfigError(ValueError):
    """include/recon.yaml is invalid; the message names the file and field."""


@dataclass(frozen=True)
class FindingPolicy:
    """How one finding type is classified and handled."""

    finding_type: str
    comparison: str
    severity: str
    owner: str
    fix: str | None


@dataclass(frozen=True)
class ReconConfig:
    max_drift_rate: float
    min_delivery_success_rate: float
    metrics_window_hours: int
    grace_minutes: int
    escalate_after_runs: int
    lms_active_statuses: tuple[str, ...]
    # A store URL or absolute path; None: $CREDSYNC_REPORT_STORE or $CREDSYNC_OBJECT_STORE/reports.
    report_dir: str | None
    findings: dict[str, FindingPolicy]
    work_mem: str = "256MB"
    # How long a replaced snapshot stays in staging: runs that overlap (a backfill, a late rerun)
    # each compare against the snapshots they loaded, not the newest one.
    snapshot_retention_minutes: int = 360

    @property
    def safe_fix_types(self) -> frozenset[str]:
        """Finding types reconciliation may fix on its own."""
        return frozenset(t for t, p in self.findings.items() if p.fix)


def load_recon_config(path: Path = RECON_FILE) -> ReconConfig:
    """Read and validate ``path``."""
    import yaml

    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ReconConfigError(f"{path}: expected a mapping at the top level")
    thresholds = _mapping(path, raw, "thresholds")
    report_dir = str(raw.get("report_dir") or "").strip() or None
    if report_dir and "://" not in report_dir and not Path(report_dir).is_absolute():
        raise ReconConfigError(f"{path}: key 'report_dir' {report_dir!r} is a relative path; give an object store "
                               "URL or an absolute path every worker reaches, or leave it empty for "
                               "$CREDSYNC_OBJECT_STORE/reports")
    return ReconConfig(
        max_drift_rate=_fraction(path, thresholds, "thresholds.max_drift_rate"),
        min_delivery_success_rate=_fraction(path, thresholds, "thresholds.min_delivery_success_rate"),
        metrics_window_hours=_positive_int(path, raw, "metrics_window_hours", 24),
        grace_minutes=_positive_int(path, raw, "grace_minutes", 60, allow_zero=True),
        escalate_after_runs=_positive_int(path, raw, "escalate_after_runs", 3),
        lms_active_statuses=tuple(_statuses(path, raw)),
        report_dir=report_dir,
        findings=_findings(path, _mapping(path, raw, "findings")),
        work_mem=_memory(path, raw, "work_mem", "256MB"),
        snapshot_retention_minutes=_positive_int(path, raw, "snapshot_retention_minutes", 360),
    )


def _mapping(path: Path, raw: dict[str, Any], field: str) -> dict[str, Any]:
    value = raw.get(field)
    if not isinstance(value, dict) or not value:
        raise ReconConfigError(f"{path}: field {field!r} must be a non-empty mapping")
    return value


def _fraction(path: Path, section: dict[str, Any], dotted: str) -> float:
    key = dotted.split(".")[-1]
    value = section.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ReconConfigError(f"{path}: field {dotted!r} must be a number between 0 and 1, got {value!r}")
    return float(value)


def _positive_int(path: Path, raw: dict[str, Any], field: str, default: int, *, allow_zero: bool = False) -> int:
    value = raw.get(field, default)
    low = 0 if allow_zero else 1
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ReconConfigError(f"{path}: field {field!r} must be an integer >= {low}, got {value!r}")
    return value


def _memory(path: Path, raw: dict[str, Any], field: str, default: str) -> str:
    value = str(raw.get(field, default)).strip()
    if not re.fullmatch(r"[1-9][0-9]*(kB|MB|GB)", value):
        raise ReconConfigError(f"{path}: field {field!r} must be a Postgres memory size like '256MB', got {value!r}")
    return value


def _statuses(path: Path, raw: dict[str, Any]) -> list[str]:
    value = raw.get("lms_active_statuses", ["active", "leave"])
    allowed = {"active", "leave", "terminated"}
    if not isinstance(value, list) or not value or not set(value) <= allowed:
        raise ReconConfigError(
            f"{path}: field 'lms_active_statuses' must be a non-empty list drawn from {sorted(allowed)}"
        )
    return [str(v) for v in value]


def _findings(path: Path, raw: dict[str, Any]) -> dict[str, FindingPolicy]:
    policies: dict[str, FindingPolicy] = {}
    for finding_type, entry in raw.items():
        where = f"{path}: findings.{finding_type}"
        if not isinstance(entry, dict):
            raise ReconConfigError(f"{where}: expected a mapping")
        comparison, severity, owner, fix = (entry.get(k) for k in ("comparison", "severity", "owner", "fix"))
        if comparison not in COMPARISONS + SEPARATE_COMPARISONS:
            raise ReconConfigError(f"{where}: field 'comparison' must be one of {COMPARISONS + SEPARATE_COMPARISONS}, "
                                   f"got {comparison!r}")
        if severity not in SEVERITIES:
            raise ReconConfigError(f"{where}: field 'severity' must be one of {SEVERITIES}, got {severity!r}")
        if not isinstance(owner, str) or not owner:
            raise ReconConfigError(f"{where}: field 'owner' is required")
        if fix is not None and fix not in FIXES:
            raise ReconConfigError(f"{where}: field 'fix' must be null or one of {FIXES}, got {fix!r}")
        policies[str(finding_type)] = FindingPolicy(str(finding_type), comparison, severity, owner, fix)
    return policies
