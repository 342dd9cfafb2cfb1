"""The tenant's identity case policy: declared in include/tenants.yaml, validated, applied at staging."""

from __future__ import annotations

from pathlib import Path

import pytest

from credsync.mapping.identity import canonical_id
from credsync.tenants import TenantConfigError, load_tenants

CONNS = "{hris: h, scim: s, lrs: l, lms: m, registry: r}"


def tenants_file(tmp_path: Path, identity: str | None) -> Path:
    path = tmp_path / "tenants.yaml"
    extra = f", identity: {identity}" if identity is not None else ""
    path.write_text(f"tenants:\n  - {{tenant_id: acme, display_name: A, region: eu{extra}, connections: {CONNS}}}\n")
    return path


def test_shipped_tenants_declare_preserve() -> None:
    assert {t.identity_case for t in load_tenants(enabled_only=False)} == {"preserve"}


def test_absent_policy_means_case_sensitive_ids(tmp_path: Path) -> None:
    assert load_tenants(tenants_file(tmp_path, None))[0].identity_case == "preserve"


@pytest.mark.parametrize("case", ["preserve", "upper", "lower"])
def test_each_declared_policy_loads(tmp_path: Path, case: str) -> None:
    assert load_tenants(tenants_file(tmp_path, f"{{case: {case}}}"))[0].identity_case == case


@pytest.mark.parametrize(("identity", "message"), [
    ("{case: insensitive}", r"tenants.yaml: tenant #1 \(acme\): field 'identity.case' is 'insensitive'; "
                            r"expected one of preserve, upper, lower"),
    ("upper", r"tenants.yaml: tenant #1 \(acme\): field 'identity' must be a mapping"),
    ("{case: upper, fold: true}", r"tenants.yaml: tenant #1 \(acme\): field 'identity' has unknown key\(s\) 'fold'"),
])
def test_a_bad_policy_names_file_tenant_and_field(tmp_path: Path, identity: str, message: str) -> None:
    with pytest.raises(TenantConfigError, match=message):
        load_tenants(tenants_file(tmp_path, identity))


def test_case_variants_are_two_people_under_preserve_and_one_under_upper() -> None:
    assert canonical_id(" e000739 ") != canonical_id("E000739")
    assert canonical_id(" e000739 ", case="upper") == canonical_id("E000739", case="upper") == "E000739"
    full_width = "\uff25\uff10\uff10\uff10\uff17\uff13\uff19"  # a copy-paste from a full-width form
    assert canonical_id(full_width) == "E000739"
